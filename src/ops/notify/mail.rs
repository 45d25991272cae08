//! A notice as a mail, through the channel's SMTP relay (lettre, over tokio and rustls).
//!
//! STARTTLS is required unless the channel says `starttls: false` (a relay on this machine):
//! a relay that does not offer it is refused rather than sent the mail, and the login, in
//! clear. The password is read at each attempt and scrubbed from any error the relay's
//! answer makes.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::ATTEMPT_TIMEOUT;
use super::delivery_error::DeliveryError;
use super::redact::scrub;
use crate::manifest::notify::EmailSpec;
use crate::report::notice::Notice;

/// Sends `notice` to `spec`'s recipients, once.
pub(crate) async fn send(spec: &EmailSpec, notice: &Notice) -> Result<(), DeliveryError> {
    let message = write(spec, notice)?;
    let password = match &spec.login {
        Some((_, source)) => Some(source.read()?),
        None => None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(spec.host.as_str())
        .port(spec.port)
        .timeout(Some(ATTEMPT_TIMEOUT));
    if let Some(host) = super::hostname() {
        builder = builder.hello_name(ClientId::Domain(host));
    }
    if spec.starttls {
        // Installing the process-wide TLS provider fails harmlessly when one is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = TlsParameters::builder(spec.host.clone())
            .build_rustls()
            .map_err(|e| DeliveryError::Refused(format!("cannot set up TLS: {e}")))?;
        builder = builder.tls(Tls::Required(tls));
    }
    if let (Some((user, _)), Some(password)) = (&spec.login, &password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    let secret = password.as_ref().map_or("", |p| p.expose_secret());
    builder.build().send(message).await.map(drop).map_err(|e| {
        let said = scrub(&e.to_string(), &[secret]);
        let said = format!("{}:{}: {said}", spec.host, spec.port);
        if e.is_timeout() {
            DeliveryError::Timeout(ATTEMPT_TIMEOUT.as_secs())
        } else if e.is_permanent() {
            DeliveryError::Refused(said)
        } else {
            DeliveryError::Transport(said)
        }
    })
}

/// The mail: the notice's headline as its subject, its text as its body, marked as sent by
/// a program (RFC 3834, so that auto-replies stay away) with the event in a header of its
/// own for filters.
fn write(spec: &EmailSpec, notice: &Notice) -> Result<Message, DeliveryError> {
    let mailbox = |text: &str| {
        text.parse::<Mailbox>()
            .map_err(|e| DeliveryError::Refused(format!("`{text}` is not a mail address: {e}")))
    };
    let mut builder = Message::builder()
        .from(mailbox(&spec.from)?)
        .subject(notice.subject());
    for to in &spec.to {
        builder = builder.to(mailbox(to)?);
    }
    let mut message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(notice.text())
        .map_err(|e| DeliveryError::Refused(format!("cannot write the mail: {e}")))?;
    let headers = message.headers_mut();
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-generated".into(),
    ));
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("X-Vip-Run-Event"),
        notice.event.name().into(),
    ));
    Ok(message)
}
