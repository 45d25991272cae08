//! `report.html`: one self-contained page of a batch (see `batch`), readable offline.

use super::batch::Batch;

/// The page for `batch`.
pub fn render(batch: &Batch) -> String {
    format!("<!doctype html><title>{}</title>", batch.name)
}
