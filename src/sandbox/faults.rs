//! Fault injection: slow answers, 5xx answers (VIP's 500/8000, a proxy's HTML 502/503) and
//! connections cut without an answer, sometimes after the request did its work (a run
//! created whose creator never hears of it). One seeded generator decides, in request
//! order, so the same seed and the same requests give the same faults.
//!
//! An outage is a window of time (`--outage START:DURATION`, or [`super::Sandbox::set_outage`])
//! in which every request fails: half the connections are cut, half answered with a proxy's
//! HTML 503 page, as when VIP is down behind its front end or the network is gone.

use axum::http::StatusCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::errors::ApiError;

/// What happens to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Served normally.
    None,
    /// Answered with this error instead, before doing anything.
    Error(ApiError),
    /// The connection is cut before the request is processed.
    DropBefore,
    /// The request is processed, then the connection is cut instead of answering.
    DropAfter,
}

/// The seeded decision maker.
#[derive(Debug)]
pub(crate) struct Faults {
    rng: StdRng,
    error_rate: f64,
    drop_rate: f64,
}

impl Faults {
    pub(crate) fn new(seed: u64, error_rate: f64, drop_rate: f64) -> Self {
        Self {
            // Its own stream, so that turning faults on does not change execution ids.
            rng: StdRng::seed_from_u64(seed ^ 0x5eed_fa17_5eed_fa17),
            error_rate: error_rate.clamp(0.0, 1.0),
            drop_rate: drop_rate.clamp(0.0, 1.0),
        }
    }

    /// The fate of a request during an outage: cut, or a proxy's HTML 503 page.
    pub(crate) fn during_outage(&mut self) -> Fault {
        if self.rng.random_bool(0.5) {
            Fault::DropBefore
        } else {
            Fault::Error(ApiError::proxy_page(StatusCode::SERVICE_UNAVAILABLE))
        }
    }

    /// Decides the fate of the next request.
    pub(crate) fn decide(&mut self) -> Fault {
        if self.drop_rate > 0.0 && self.rng.random::<f64>() < self.drop_rate {
            return if self.rng.random_bool(0.5) {
                Fault::DropAfter
            } else {
                Fault::DropBefore
            };
        }
        if self.error_rate > 0.0 && self.rng.random::<f64>() < self.error_rate {
            return Fault::Error(match self.rng.random_range(0..3) {
                0 => ApiError::internal(),
                1 => ApiError::proxy_page(StatusCode::BAD_GATEWAY),
                _ => ApiError::proxy_page(StatusCode::SERVICE_UNAVAILABLE),
            });
        }
        Fault::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let run = |seed| {
            let mut f = Faults::new(seed, 0.3, 0.2);
            (0..200).map(|_| f.decide()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let faults = run(7);
        let drops = faults
            .iter()
            .filter(|f| matches!(f, Fault::DropAfter | Fault::DropBefore))
            .count();
        assert!((20..=60).contains(&drops), "{drops}");
        assert!(faults.iter().any(|f| matches!(f, Fault::Error(_))));
        let mut quiet = Faults::new(7, 0.0, 0.0);
        assert!((0..100).all(|_| quiet.decide() == Fault::None));
        let outage: Vec<Fault> = (0..100).map(|_| quiet.during_outage()).collect();
        assert!(outage.contains(&Fault::DropBefore));
        assert!(outage.iter().any(|f| matches!(f, Fault::Error(_))));
        assert!(!outage.contains(&Fault::None));
    }
}
