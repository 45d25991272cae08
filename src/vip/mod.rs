//! VIP's REST dialect of CARMIN, as far as vip-run needs it (vip-api.md).

pub mod rules;
