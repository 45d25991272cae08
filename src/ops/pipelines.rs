//! `pipelines [QUERY]`: the pipelines the caller can run, a refused key explained as users
//! understand it. Rendering is `report::pipelines`'s.

use crate::error::Error;
use crate::vip::wire::Pipeline;

use super::Settings;
use super::access::explain;
use super::session::with_connection;

/// `pipelines [QUERY]`: the pipelines the caller can run whose id contains `query`, sorted.
pub async fn pipelines(settings: &Settings, query: Option<&str>) -> Result<Vec<Pipeline>, Error> {
    let mut list = with_connection(settings, None, async |conn| {
        conn.client.pipelines().await.map_err(|e| explain(e, conn))
    })
    .await?;
    if let Some(q) = query {
        let q = q.to_lowercase();
        list.retain(|p| p.identifier.to_lowercase().contains(&q));
    }
    list.sort_by(|a, b| a.identifier.cmp(&b.identifier));
    Ok(list)
}
