//! What a finished job leaves behind: its output files, made from the pipeline's recipes
//! (text, tarball, sized, greeting), their names from the descriptor's path templates, and
//! its stdout/stderr logs. Content is deterministic: the same inputs give the same bytes.
//! A `sized` output is pseudo-random noise (not zeros, so nothing downstream can take a
//! shortcut on it, and a transfer that drops or reorders bytes shows in its digest), made
//! from a 1 MiB block generated once per file and stamped with its index, so writing costs
//! about what copying that many bytes does.

use std::fmt::Write as _;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::world::{OutputRecipe, PipelineDef};

/// A file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    /// These bytes.
    Bytes(Vec<u8>),
    /// This many bytes of deterministic noise from `seed` (see [`write_noise`]).
    Noise {
        /// Bytes.
        size: u64,
        /// Seeds the generator: the job's inputs and number.
        seed: u64,
    },
}

/// The block [`write_noise`] repeats: big enough that the per-block stamp costs nothing.
const NOISE_BLOCK: usize = 1 << 20;

/// Writes `size` bytes of noise from `seed`: a block from xorshift64*, repeated, each copy's
/// first 8 bytes replaced by its index mixed with the seed, so no two blocks are equal.
pub(crate) fn write_noise(
    out: &mut impl std::io::Write,
    size: u64,
    seed: u64,
) -> std::io::Result<()> {
    // xorshift's state must not be 0.
    let mut state = seed | 1;
    let mut block = vec![0u8; NOISE_BLOCK];
    for chunk in block.chunks_exact_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        chunk.copy_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    let mut left = size;
    let mut index = 0u64;
    while left > 0 {
        block[..8].copy_from_slice(
            &(index ^ seed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .to_le_bytes(),
        );
        // Bounded by the block's length, so it fits a usize.
        #[allow(clippy::cast_possible_truncation)]
        let n = left.min(NOISE_BLOCK as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
        index += 1;
    }
    Ok(())
}

/// One job's view of its inputs: input id → the value it got.
pub(crate) type JobValues = IndexMap<String, String>;

/// Replaces `{input_id}` with the job's value (empty if unset) and `{job}` with its number.
pub(crate) fn fill(template: &str, values: &JobValues, job: usize) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if after[..close]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) =>
            {
                let key = &after[..close];
                if key == "job" {
                    out.push_str(&job.to_string());
                } else {
                    out.push_str(values.get(key).map_or("", String::as_str));
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The output's file name: the descriptor's path template, value keys replaced by the
/// job's values (their base names, sanitised to a single segment).
pub(crate) fn file_name(pipeline: &PipelineDef, output_id: &str, values: &JobValues) -> String {
    let output = pipeline
        .descriptor()
        .output_files
        .iter()
        .find(|o| o.id == output_id);
    let template = output.map_or(output_id, |o| o.path_template.as_str());
    // Boutiques' `path-template-stripped-extensions`: removed from the values first.
    let stripped: Vec<&str> = output
        .and_then(|o| o.rest.get("path-template-stripped-extensions"))
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let mut name = template.to_owned();
    for (input, value) in values {
        if let Some(key) = pipeline.value_key(input)
            && !key.is_empty()
            && name.contains(key)
        {
            let mut base = value.rsplit('/').next().unwrap_or(value);
            if let Some(ext) = stripped.iter().find(|e| base.ends_with(**e)) {
                base = &base[..base.len() - ext.len()];
            }
            name = name.replace(key, base);
        }
    }
    let name = name.replace('/', "_");
    if name.is_empty() || name == "." || name == ".." {
        output_id.to_owned()
    } else {
        name
    }
}

/// The content of one output of one job. `measured` is the size of the greeting's
/// `measure` input, when it is a file the sandbox holds.
pub(crate) fn render(
    recipe: &OutputRecipe,
    values: &JobValues,
    job: usize,
    measured: Option<u64>,
) -> Content {
    match recipe {
        OutputRecipe::Text { template } => Content::Bytes(fill(template, values, job).into_bytes()),
        OutputRecipe::Sized { size } => Content::Noise {
            size: *size,
            seed: seed(values, job, "sized"),
        },
        OutputRecipe::Greeting {
            message,
            repeat,
            shout,
            ..
        } => {
            let mut line = values.get(message).cloned().unwrap_or_default();
            if values
                .get(shout)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                line = line.to_uppercase();
            }
            let times = values
                .get(repeat)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1)
                .min(10_000);
            let mut text = String::new();
            for _ in 0..times {
                text.push_str(&line);
                text.push('\n');
            }
            match measured {
                Some(size) => {
                    let _ = writeln!(text, "{size}");
                }
                None => text.push_str("unknown (not a file of this platform)\n"),
            }
            Content::Bytes(text.into_bytes())
        }
        OutputRecipe::Tarball { members } => Content::Bytes(tarball(members, values, job)),
    }
}

/// A stable pseudo-random number in [0, 1) from the job's inputs and a label.
fn unit(values: &JobValues, job: usize, label: &str) -> f64 {
    // 53 bits: exactly representable.
    #[allow(clippy::cast_precision_loss)]
    let x = (seed(values, job, label) >> 11) as f64 / (1u64 << 53) as f64;
    x
}

/// A stable 64-bit number from the job's inputs, its number and a label.
fn seed(values: &JobValues, job: usize, label: &str) -> u64 {
    let mut h = Sha256::new();
    for (k, v) in values {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.update(job.to_le_bytes());
    h.update(label.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

fn member_content(name: &str, values: &JobValues, job: usize) -> Vec<u8> {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "csv" => {
            let mut s = String::from("Metabolite,Concentration (mM),CRLB (%)\n");
            for (metabolite, base) in [
                ("NAA", 10.2),
                ("Cr", 8.1),
                ("Cho", 1.9),
                ("mI", 5.6),
                ("Glu", 9.4),
            ] {
                let c = base * (0.85 + 0.3 * unit(values, job, metabolite));
                let crlb = 3.0 + 12.0 * unit(values, job, &format!("{metabolite}-crlb"));
                let _ = writeln!(s, "{metabolite},{c:.3},{crlb:.1}");
            }
            s.into_bytes()
        }
        "mgz" | "nii" | "gz" => (0..4096u32)
            .map(|i| {
                let v = unit(values, job, &format!("{name}{}", i / 64)) * 255.0;
                // In [0, 255) by construction.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let byte = v as u8;
                byte ^ i.to_le_bytes()[0]
            })
            .collect(),
        _ => {
            let mut s = format!("{name}\njob: {job}\n");
            for (k, v) in values {
                let _ = writeln!(s, "{k}: {v}");
            }
            let _ = write!(
                s,
                "residual: {:.5}\nstatus: converged\n",
                0.001 + 0.01 * unit(values, job, name)
            );
            s.into_bytes()
        }
    }
}

/// A gzip tarball of `members`. Names are written as given, as a hostile or broken server
/// would (`../x`, `/abs`): the client must defend itself, not the simulator. A member
/// written `name -> target` is a symbolic link.
fn tarball(members: &[String], values: &JobValues, job: usize) -> Vec<u8> {
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for member in members {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(mtime);
        let (name, link) = match member.split_once(" -> ") {
            Some((name, target)) => (name, Some(target)),
            None => (member.as_str(), None),
        };
        let data = match link {
            Some(_) => Vec::new(),
            None => member_content(name, values, job),
        };
        header.set_entry_type(if link.is_some() {
            tar::EntryType::Symlink
        } else {
            tar::EntryType::Regular
        });
        header.set_size(data.len() as u64);
        // The raw name, bypassing the builder's own path checks (names longer than the
        // header's field are cut: members are short).
        let raw = name.as_bytes();
        let field = &mut header.as_old_mut().name;
        let len = raw.len().min(field.len() - 1);
        field[..len].copy_from_slice(&raw[..len]);
        if let Some(target) = link {
            let raw = target.as_bytes();
            let field = &mut header.as_old_mut().linkname;
            let len = raw.len().min(field.len() - 1);
            field[..len].copy_from_slice(&raw[..len]);
        }
        header.set_cksum();
        // Writing into a Vec cannot fail; a failure would only lose this member.
        let _ = builder.append(&header, data.as_slice());
    }
    let encoder = builder
        .into_inner()
        .unwrap_or_else(|_| GzEncoder::new(Vec::new(), Compression::default()));
    let mut encoder = encoder;
    let _ = encoder.flush();
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::default_world;

    fn values(pairs: &[(&str, &str)]) -> JobValues {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn templates_take_job_values() {
        let v = values(&[("message", "Hi"), ("input_file", "/vip/Home/a.txt")]);
        assert_eq!(
            fill("{message} from {input_file} #{job} {nope} {x y}", &v, 2),
            "Hi from /vip/Home/a.txt #2  {x y}"
        );
    }

    #[test]
    fn greetings_repeat_shout_and_measure() {
        let w = default_world();
        let hello = w.pipeline("Hello/1.0").unwrap();
        let recipe = &hello.outputs["greeting"];
        let v = values(&[("message", "Hi there"), ("repeat", "2"), ("shout", "true")]);
        assert_eq!(
            render(recipe, &v, 1, Some(12)),
            Content::Bytes(b"HI THERE\nHI THERE\n12\n".to_vec())
        );
        assert_eq!(file_name(hello, "greeting", &v), "hello.txt");
    }

    #[test]
    fn sized_outputs_are_deterministic_varied_noise_of_their_size() {
        let sized = OutputRecipe::Sized { size: 2_500_000 };
        let bytes = |v: &JobValues, job| {
            let Content::Noise { size, seed } = render(&sized, v, job, None) else {
                panic!("noise")
            };
            let mut out = Vec::new();
            write_noise(&mut out, size, seed).unwrap();
            out
        };
        let a = values(&[("input_file", "/vip/Home/a.nii")]);
        let first = bytes(&a, 1);
        assert_eq!(first.len(), 2_500_000);
        assert_eq!(first, bytes(&a, 1));
        assert_ne!(first, bytes(&a, 2));
        assert_ne!(
            first,
            bytes(&values(&[("input_file", "/vip/Home/b.nii")]), 1)
        );
        // Varied: no long run of one byte, every byte value present, blocks differ.
        assert!(first.windows(16).all(|w| w.iter().any(|b| *b != w[0])));
        let mut seen = [false; 256];
        for b in &first {
            seen[usize::from(*b)] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_ne!(first[..NOISE_BLOCK], first[NOISE_BLOCK..2 * NOISE_BLOCK]);
    }

    #[test]
    fn tarballs_are_real_and_deterministic() {
        let w = default_world();
        let recipe = &w.pipeline("CQUEST/0.6").unwrap().outputs["results"];
        let v = values(&[("data_file", "/vip/Home/1.mrui")]);
        let Content::Bytes(bytes) = render(recipe, &v, 1, None) else {
            panic!("bytes")
        };
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["quantification.csv", "fit.txt"]);
        assert_eq!(
            member_content("q.csv", &v, 1),
            member_content("q.csv", &v, 1)
        );
        assert_ne!(
            member_content("q.csv", &v, 1),
            member_content("q.csv", &v, 2)
        );
    }
}
