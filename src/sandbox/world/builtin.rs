//! The built-in world, the one `vip-run --sandbox` and `vip-run sandbox` serve without
//! `--world`: embedded from `default-world.yaml`, and tested to be the one documented here,
//! because the README and the tests name its users, keys and pipelines.
//!
//! The default world:
//!
//! | user | key | password | level | groups | quota |
//! |---|---|---|---|---|---|
//! | `demo@sandbox.local` | `sandbox-demo-key` | `sandbox-demo-password` | Advanced | Demo, CQUEST, EGI-biomed | 1 |
//! | `guest@sandbox.local` | `sandbox-guest-key` | `sandbox-guest-password` | Beginner | Demo, EGI-biomed | 1 |
//!
//! | group | type |
//! |---|---|
//! | Demo (public) | APPLICATION |
//! | CQUEST | APPLICATION |
//! | `FreeSurfer` | APPLICATION (nobody is in it) |
//! | EGI-biomed | RESOURCE |
//!
//! | pipeline | visible | application group | inputs | outputs |
//! |---|---|---|---|---|
//! | `Hello/1.0` | yes | Demo | `input_file` File; `message` String = "Hello"; `repeat` Int64; `shout` Boolean | `greeting`: `hello.txt` (a message containing `FAIL` fails the run, an `application` failure with exit code 50; `SLOW` makes it 5× longer) |
//! | `CQUEST/0.6` | yes | CQUEST | `zipped_folder` File; `parameter_file`, `data_file` File lists (`vip:dot`); `iterations` Int64 = 100; `verbose` Boolean | `results`: `results.tgz` per job |
//! | `CQUEST/0.5` | **no** | CQUEST | as 0.6 | as 0.6 |
//! | `LargeOutput/1.0` | yes | Demo | `input_file` File | `volume`: `volume.nii` (16,000,000 bytes, above the download cap); `summary`: `summary.txt` |
//! | `FreeSurfer (recon-all)/7.3.1` | yes | `FreeSurfer` | `t1_file` File; `subject_id` String; `directive` String = "-all" | `subject_dir`: `subject.tgz` |
//! | `BET/1.0.0` | yes | Demo | `in_file` File; `output_name` String = "brain"; `frac` Double in [0, 1] = 0.5; `vertical_gradient` Double in (-1, 1); `center` Int64 list of exactly 3; `robust`, `eye_cleanup`, `surfaces` Boolean, mutually exclusive | `brain`: `[OUT].nii.gz` |
//! | `Denoise/2.1` | yes | Demo | `input_file` File; `method` one of nlmeans, gaussian, median; `patch_size` Int64 in [1, 9], requires `method`; `mask` File, disables `auto_mask` Boolean; one of `noise_level` Double > 0 or `estimate_noise` Boolean is required; `atlas_image`, `atlas_labels` File, all or none | `denoised`: `[IN]_denoised.nii.gz` (a text file) |
//!
//! Every pipeline's resource group is EGI-biomed.
//!

use super::World;

/// The default world's YAML: a starting point for `--world` files and test worlds.
pub fn default_world_yaml() -> &'static str {
    include_str!("default-world.yaml")
}

/// The default world (the table at the top of this file).
pub fn default_world() -> World {
    World::from_yaml(default_world_yaml()).expect("the embedded default world is valid (tested)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::world::Level;

    #[test]
    fn the_default_world_is_the_documented_one() {
        let w = default_world();
        let ids: Vec<&str> = w.pipelines.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "Hello/1.0",
                "CQUEST/0.6",
                "CQUEST/0.5",
                "LargeOutput/1.0",
                "FreeSurfer (recon-all)/7.3.1",
                "BET/1.0.0",
                "Denoise/2.1"
            ]
        );
        let cquest05 = w.pipeline("CQUEST/0.5").unwrap();
        assert!(!cquest05.visible);
        assert_eq!(cquest05.parsed.tool_version, "0.5");
        assert_eq!(
            cquest05.parsed.dot_inputs(),
            ["data_file", "parameter_file"]
        );
        let demo = &w.users[w.user_by_key(crate::sandbox::DEMO_KEY).unwrap()];
        assert_eq!(demo.level, Level::Advanced);
        let guest = &w.users[w.user_by_key(crate::sandbox::GUEST_KEY).unwrap()];
        assert_eq!(guest.level, Level::Beginner);
        assert!(!w.may_use(guest, w.pipeline("CQUEST/0.6").unwrap()));
    }
}
