//! The routes that need no key: `/platform` (what VIP says about itself, error codes
//! included), `/authenticate` and `/session` (a key or a session token for a password), and
//! `/externalPlatforms` (docs/vip.md#endpoints, #platform).

use std::fmt::Write as _;

use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Serialize;
use sha2::Digest as _;

use super::{Outcome, json, json_body, method_not_allowed};
use crate::sandbox::Shared;
use crate::sandbox::errors::{ApiError, CODES};
use crate::sandbox::log::Incoming;
use crate::sandbox::world::World;
use crate::vip::wire::{AuthenticateRequest, AuthenticateResponse, ErrorBody, Platform};

pub(super) fn platform(shared: &Shared) -> Response {
    json(&Platform {
        platform_name: Some("VIP".into()),
        api_error_codes_and_messages: CODES
            .iter()
            .map(|(code, template)| ErrorBody {
                error_code: *code,
                error_message: (*template).to_owned(),
            })
            .collect(),
        supported_transfer_protocols: vec!["https".into()],
        supported_modules: vec!["Processing".into(), "Data".into()],
        default_limit_list_executions: Some(500),
        email: Some("vip-support@creatis.insa-lyon.fr".into()),
        platform_description: Some(
            "Virtual Imaging Platform (vip-run sandbox: a local simulator)".into(),
        ),
        min_authorized_execution_timeout: None,
        max_authorized_execution_timeout: None,
        unsupported_methods: vec!["playExecution".into()],
        max_size_direct_transfer: Some(shared.config.max_size_direct_transfer),
        default_study: None,
        supported_api_version: Some("0.3".into()),
        oidc_login_providers: Vec::new(),
    })
}

pub(super) async fn authenticate(
    world: &World,
    parts: &Parts,
    incoming: &mut Incoming,
    session: bool,
) -> Outcome {
    if parts.method != Method::POST {
        return Err(method_not_allowed());
    }
    let bytes = json_body(parts, incoming).await?;
    let body: AuthenticateRequest =
        serde_json::from_slice(&bytes).map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
    let username = body
        .username
        .ok_or_else(|| ApiError::null_field("username"))?;
    let password = body
        .password
        .ok_or_else(|| ApiError::null_field("password"))?;
    let user = world
        .users
        .iter()
        .find(|u| u.email == username && u.password == password)
        .ok_or_else(ApiError::wrong_password)?;
    Ok(json(&if session {
        // The portal's cookie session: a token derived from the key, never the key.
        let digest = sha2::Sha256::digest(format!("session:{}", user.api_key).as_bytes());
        AuthenticateResponse {
            http_header: "vip-cookie-session".into(),
            http_header_value: digest.iter().take(16).fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            }),
        }
    } else {
        AuthenticateResponse {
            http_header: "apikey".into(),
            http_header_value: user.api_key.clone(),
        }
    }))
}

#[derive(Serialize)]
pub(super) struct ExternalPlatformJson<'a> {
    identifier: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    description: Option<&'a str>,
    url: Option<&'a str>,
}

pub(super) fn external_platforms(world: &World) -> Vec<ExternalPlatformJson<'_>> {
    world
        .external_platforms
        .iter()
        .map(|p| ExternalPlatformJson {
            identifier: &p.identifier,
            kind: &p.kind,
            description: p.description.as_deref(),
            url: p.url.as_deref(),
        })
        .collect()
}
