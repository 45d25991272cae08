//! `whoami`: checks the key against VIP and lists the caller's groups, a refused key explained
//! as users understand it. Rendering is `report::whoami`'s.

use crate::error::Error;
use crate::report::whoami::Identity;

use super::Settings;
use super::access::explain;
use super::session::with_connection;

/// `whoami`: checks the key and lists the caller's groups.
pub async fn whoami(settings: &Settings) -> Result<Identity, Error> {
    with_connection(settings, None, async |conn| {
        let mut groups = conn.client.groups().await.map_err(|e| explain(e, conn))?;
        let pipelines = conn
            .client
            .pipelines()
            .await
            .map_err(|e| explain(e, conn))?;
        groups.sort();
        Ok(Identity {
            server: conn.server.clone(),
            key_source: conn.key_source.clone(),
            groups,
            pipelines: pipelines.len(),
        })
    })
    .await
}
