//! Notifications end to end: the real binary against the sandbox, telling receivers the
//! tests start on loopback themselves (an HTTP receiver that records what it is sent, can
//! answer an error or never answer, and an SMTP relay speaking EHLO, STARTTLS, AUTH, MAIL,
//! RCPT, DATA and QUIT). Each channel's payloads and events, the bound a dead or hanging
//! receiver may add to a run, and the spool sent by the next run.
//!
//! The STARTTLS test makes its certificates with the `openssl` command, as the TLS tests do;
//! without it, it prints `skipped: <reason>` (and fails under `CI=true`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use vip_run::sandbox::{Config, FailureKind, Trigger, default_world};

use crate::run::hello_test;
use crate::support::{SandboxHandle, Test};

// --- an HTTP receiver ---------------------------------------------------------------------

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Hit {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the receiver does with a request.
const ANSWER: u16 = 0;
const HANG: u16 = 1;

/// An HTTP server on loopback recording every request, on its own runtime.
pub(crate) struct Receiver {
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    /// [`ANSWER`] with 200, [`HANG`], or an HTTP status to answer.
    mode: Arc<AtomicU16>,
}

impl Receiver {
    pub(crate) fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let mode = Arc::new(AtomicU16::new(ANSWER));
        let (h, m) = (Arc::clone(&hits), Arc::clone(&mode));
        let handler = move |request: axum::extract::Request| {
            let (hits, mode) = (Arc::clone(&h), Arc::clone(&m));
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                hits.lock().unwrap().push(Hit {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or("").to_owned(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                match mode.load(Ordering::SeqCst) {
                    HANG => {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        axum::http::StatusCode::OK
                    }
                    ANSWER => axum::http::StatusCode::OK,
                    status => axum::http::StatusCode::from_u16(status).unwrap(),
                }
            }
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move {
            let app = axum::Router::new().fallback(handler);
            let _ = axum::serve(listener, app).await;
        });
        Self {
            runtime: Some(runtime),
            url,
            hits,
            mode,
        }
    }

    /// A receiver that takes requests and never answers.
    fn hanging() -> Self {
        let r = Self::start();
        r.mode.store(HANG, Ordering::SeqCst);
        r
    }

    /// The receiver's URL for `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The requests to paths starting with `prefix`.
    pub(crate) fn hits_on(&self, prefix: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.path.starts_with(prefix))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A URL on loopback where nothing listens: connections are refused.
pub(crate) fn dead_url(path: &str) -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}{path}")
}

// --- an SMTP relay ------------------------------------------------------------------------

/// One mail the relay accepted.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    /// Whether it came over TLS (after STARTTLS).
    pub(crate) tls: bool,
    /// The login and password AUTH PLAIN gave, if any.
    pub(crate) auth: Option<(String, String)>,
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    /// The message as sent (headers, blank line, body), dot-stuffing undone.
    pub(crate) data: String,
}

impl Mail {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let prefix = format!("{}:", name.to_lowercase());
        head.split("\r\n")
            .find(|l| l.to_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The body, its transfer encoding undone.
    pub(crate) fn body(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        match self.header("Content-Transfer-Encoding").as_deref() {
            Some("base64") => String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(body.replace("\r\n", ""))
                    .unwrap(),
            )
            .into_owned(),
            Some("quoted-printable") => {
                let joined = body.replace("=\r\n", "");
                let bytes = joined.as_bytes();
                let mut out = Vec::new();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'=' && i + 2 < bytes.len() {
                        out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
                        i += 3;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                String::from_utf8_lossy(&out).into_owned()
            }
            _ => body.to_owned(),
        }
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// A line-based SMTP relay on loopback, one thread per connection.
pub(crate) struct Relay {
    pub(crate) port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl Relay {
    /// Offers STARTTLS with `tls`, and AUTH PLAIN when `auth`.
    pub(crate) fn start(tls: Option<Arc<rustls::ServerConfig>>, auth: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let kept = Arc::clone(&mails);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (tls, kept) = (tls.clone(), Arc::clone(&kept));
                std::thread::spawn(move || {
                    let _ = session(stream, tls.as_ref(), auth, &kept);
                });
            }
        });
        Self { port, mails }
    }

    pub(crate) fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn session(
    stream: TcpStream,
    tls: Option<&Arc<rustls::ServerConfig>>,
    auth: bool,
    mails: &Mutex<Vec<Mail>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(Conn::Plain(stream));
    let say = |r: &mut BufReader<Conn>, text: &str| -> std::io::Result<()> {
        r.get_mut().write_all(text.as_bytes())?;
        r.get_mut().flush()
    };
    say(&mut reader, "220 relay.test ESMTP\r\n")?;
    let mut secure = false;
    let mut login = None;
    let mut mail: Option<Mail> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.split(' ').next().unwrap_or("").to_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => {
                let mut reply = "250-relay.test\r\n".to_owned();
                if tls.is_some() && !secure {
                    reply.push_str("250-STARTTLS\r\n");
                }
                if auth {
                    reply.push_str("250-AUTH PLAIN\r\n");
                }
                reply.push_str("250 8BITMIME\r\n");
                say(&mut reader, &reply)?;
            }
            "STARTTLS" if tls.is_some() && !secure => {
                say(&mut reader, "220 go ahead\r\n")?;
                let Conn::Plain(tcp) = reader.into_inner() else {
                    unreachable!()
                };
                let server = rustls::ServerConnection::new(Arc::clone(tls.unwrap())).unwrap();
                reader = BufReader::new(Conn::Tls(Box::new(rustls::StreamOwned::new(server, tcp))));
                secure = true;
            }
            "AUTH" => {
                let encoded = command.split(' ').nth(2).unwrap_or("");
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap_or_default();
                let parts: Vec<String> = decoded
                    .split(|b| *b == 0)
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                login = parts
                    .get(1)
                    .zip(parts.get(2))
                    .map(|(u, p)| (u.clone(), p.clone()));
                say(&mut reader, "235 ok\r\n")?;
            }
            "MAIL" => {
                mail = Some(Mail {
                    tls: secure,
                    auth: login.clone(),
                    from: command[10..].trim().to_owned(),
                    to: Vec::new(),
                    data: String::new(),
                });
                say(&mut reader, "250 ok\r\n")?;
            }
            "RCPT" => {
                if let Some(m) = &mut mail {
                    m.to.push(command[8..].trim().to_owned());
                }
                say(&mut reader, "250 ok\r\n")?;
            }
            "DATA" => {
                say(&mut reader, "354 go on\r\n")?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l)? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                if let Some(mut m) = mail.take() {
                    m.data = data;
                    mails.lock().unwrap().push(m);
                }
                say(&mut reader, "250 queued\r\n")?;
            }
            "QUIT" => {
                say(&mut reader, "221 bye\r\n")?;
                return Ok(());
            }
            _ => say(&mut reader, "250 ok\r\n")?,
        }
    }
}

/// A TLS server configuration for the relay, from `pki`'s certificate for 127.0.0.1 and
/// localhost.
fn relay_tls(pki: &crate::signals::Pki) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    Arc::new(config)
}

// --- the runs -----------------------------------------------------------------------------

/// A one-item Hello manifest whose message is `message` (`FAIL` in it fails the item with
/// `application`, exit 50), with `notify` appended.
pub(crate) fn manifest(message: &str, notify: &str) -> String {
    with_execution(message, "", notify)
}

/// [`manifest`], with `execution` lines added.
fn with_execution(message: &str, execution: &str, notify: &str) -> String {
    format!(
        "version: 1\nname: study\npipeline_id: Hello/1.0\ngroup: Demo\ninputs:\n  input_file: in.txt\n  message: \"{message}\"\nexecution:\n  poll_interval: 1s\n{execution}notify:\n{notify}"
    )
}

fn rid(hit: &Hit) -> String {
    hit.query
        .split('&')
        .find_map(|p| p.strip_prefix("rid="))
        .unwrap_or_else(|| panic!("no rid in {hit:?}"))
        .to_owned()
}

#[test]
fn a_successful_run_pings_start_then_success_and_posts_only_the_events_asked_for() {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let r = Receiver::start();
    let notify = format!(
        "  - healthchecks:\n      url: {}\n  - webhook:\n      url_env: HOOK\n      events: [start, end]\n      headers_env: {{ Authorization: HOOK_AUTH }}\n  - webhook:\n      url_env: SLACK\n      format: slack\n",
        r.url("/ping/abc")
    );
    let t = hello_test(&sb, &manifest("hi", &notify))
        .env("HOOK", &r.url("/hook/json"))
        .env("HOOK_AUTH", "Bearer hook-auth-value")
        .env("SLACK", &r.url("/hook/slack"));
    let out = t.run_with(&["study.yaml"]);
    out.code(0);

    // healthchecks: /start, then the URL itself, the same run id on both.
    let pings = r.hits_on("/ping");
    let paths: Vec<&str> = pings.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(paths, ["/ping/abc/start", "/ping/abc"], "{pings:?}");
    assert!(pings.iter().all(|h| h.method == "POST"));
    assert_eq!(rid(&pings[0]), rid(&pings[1]));
    assert!(
        pings[1].body.starts_with("vip-run study (Hello/1.0)")
            && pings[1].body.contains(": finished, 1 item: 1 finished"),
        "{}",
        pings[1].body
    );
    assert!(pings[1].body.len() <= 10_000);

    // The JSON webhook: start and end, documented fields, its header.
    let posts = r.hits_on("/hook/json");
    assert_eq!(posts.len(), 2, "{posts:?}");
    let (start, end) = (posts[0].json(), posts[1].json());
    assert_eq!(start["event"], "start");
    assert_eq!(end["event"], "end");
    for doc in [&start, &end] {
        assert_eq!(doc["schema"], "vip-run.notify/1");
        assert_eq!(doc["name"], "study");
        assert_eq!(doc["pipeline"], "Hello/1.0");
        assert_eq!(doc["manifest"], "study.yaml");
        assert_eq!(doc["server"], sb.url());
        assert_eq!(doc["run"]["id"], rid(&pings[0]));
    }
    assert_eq!(end["exit_code"], 0);
    assert_eq!(end["counts"]["items"], 1);
    assert_eq!(end["counts"]["finished"], 1);
    assert_eq!(end["failed"], serde_json::json!([]));
    assert!(end["report"].as_str().unwrap().ends_with("report.html"));
    assert!(start["exit_code"].is_null());
    assert_eq!(
        posts[0].header("authorization"),
        Some("Bearer hook-auth-value")
    );
    assert_eq!(posts[0].header("content-type"), Some("application/json"));

    // The Slack hook listens for failures and stalls (its default): nothing.
    assert!(r.hits_on("/hook/slack").is_empty(), "{:?}", r.hits());
}

#[test]
fn a_failed_run_pings_its_exit_code_and_posts_the_failure_once_with_its_items() {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let r = Receiver::start();
    let notify = "  - healthchecks:\n      url_env: PING\n  - webhook:\n      url_env: SLACK\n      format: slack\n  - webhook:\n      url_env: ENDS\n      events: [end]\n  - webhook:\n      url_env: BOTH\n      events: [end, failure]\n";
    let t = hello_test(&sb, &manifest("FAIL now", notify))
        .env("PING", &r.url("/ping/xyz/"))
        .env("SLACK", &r.url("/slack"))
        .env("ENDS", &r.url("/ends"))
        .env("BOTH", &r.url("/both"));
    let started = Instant::now();
    let out = t.run_with(&["study.yaml"]);
    out.code(1);
    assert!(started.elapsed() < Duration::from_secs(30));

    let pings = r.hits_on("/ping");
    let paths: Vec<&str> = pings.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(paths, ["/ping/xyz/start", "/ping/xyz/1"], "{pings:?}");
    let body = &pings[1].body;
    assert!(
        body.contains("FAILED (exit 1, some item failed): 1 item: 1 failed"),
        "{body}"
    );
    assert!(body.contains("  main: application (exit 50)"), "{body}");

    let slack = r.hits_on("/slack");
    assert_eq!(slack.len(), 1, "{slack:?}");
    let text = slack[0].json();
    assert_eq!(text.as_object().unwrap().len(), 1, "{text}");
    assert!(
        text["text"].as_str().unwrap().contains("FAILED (exit 1"),
        "{text}"
    );

    let ends = r.hits_on("/ends");
    assert_eq!(ends.len(), 1);
    let end = ends[0].json();
    assert_eq!(end["event"], "end");
    assert_eq!(end["exit_code"], 1);
    assert_eq!(end["counts"]["failed"], 1);
    assert_eq!(end["failed"][0]["key"], "main");
    assert_eq!(end["failed"][0]["class"], "application");
    assert_eq!(end["failed"][0]["exit_code"], 50);
    assert!(
        end["failed"][0]["headline"]
            .as_str()
            .unwrap()
            .starts_with("application (exit 50)")
    );

    // A channel told of ends and failures hears of this end once, as a failure.
    let both = r.hits_on("/both");
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(both[0].json()["event"], "failure");
}

#[test]
fn a_stall_is_told_as_it_happens_to_the_channels_that_listen_for_it() {
    // The first launch is held on VIP; the watchdog kills it as stalled; its relaunch runs.
    let mut world = default_world();
    let hello = world
        .pipelines
        .iter_mut()
        .find(|p| p.id == "Hello/1.0")
        .unwrap();
    hello.fail_when = Some(Trigger {
        input: "message".into(),
        contains: "MARK".into(),
        factor: None,
        stderr: None,
        kind: Some(FailureKind::Held),
        times: Some(1),
    });
    let sb = SandboxHandle::start(Config {
        world,
        exec_duration: Duration::from_millis(400),
        ..Config::default()
    });
    let r = Receiver::start();
    let notify = "  - webhook:\n      url_env: HOOK\n  - healthchecks:\n      url_env: PING\n      events: [stall]\n";
    let t = hello_test(&sb, &with_execution("MARK", "  retries: 1\n", notify))
        .env("HOOK", &r.url("/hook"))
        .env("PING", &r.url("/ping"));
    let out = t.run_with(&["study.yaml"]);
    out.code(0);

    let posts = r.hits_on("/hook");
    assert_eq!(
        posts.len(),
        1,
        "only the stall, not the run's success: {posts:?}"
    );
    let doc = posts[0].json();
    assert_eq!(doc["event"], "stall");
    assert_eq!(doc["stalled"][0]["key"], "main");
    assert_eq!(doc["stalled"][0]["class"], "stalled");
    assert!(doc["stalled"][0]["execution"].is_string(), "{doc}");
    assert!(
        doc["stalled"][0]["headline"]
            .as_str()
            .unwrap()
            .contains("to be relaunched"),
        "{doc}"
    );
    assert!(doc["exit_code"].is_null());

    let pings = r.hits_on("/ping");
    assert_eq!(pings.len(), 1, "{pings:?}");
    assert_eq!(pings[0].path, "/ping/log");
    assert!(
        pings[0].body.contains("an execution stalled: main"),
        "{}",
        pings[0].body
    );
}

#[test]
fn mail_through_a_relay_carries_the_notice_to_every_recipient() {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let relay = Relay::start(None, false);
    let notify = format!(
        "  - email:\n      host: 127.0.0.1\n      port: {}\n      starttls: false\n      from: vip-run <vip-run@lab.example>\n      to: [a@lab.example, b@lab.example]\n      events: [start, failure]\n",
        relay.port
    );
    let t = hello_test(&sb, &manifest("FAIL now", &notify));
    // Sending in clear is warned about, even on loopback.
    t.run_with(&["validate", "study.yaml"])
        .code(0)
        .stderr_has("mail is sent in clear (starttls: false)")
        .stderr_has("study.yaml:14:");
    t.run_with(&["study.yaml"]).code(1);
    let mails = relay.mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let (start, failure) = (&mails[0], &mails[1]);
    assert_eq!(start.header("X-Vip-Run-Event").as_deref(), Some("start"));
    assert_eq!(
        failure.header("X-Vip-Run-Event").as_deref(),
        Some("failure")
    );
    for mail in &mails {
        assert!(!mail.tls && mail.auth.is_none());
        assert_eq!(mail.from, "<vip-run@lab.example>");
        assert_eq!(mail.to, ["<a@lab.example>", "<b@lab.example>"]);
        assert_eq!(
            mail.header("From").as_deref(),
            Some("vip-run <vip-run@lab.example>")
        );
        assert_eq!(
            mail.header("Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
    }
    let subject = failure.header("Subject").unwrap();
    assert!(
        subject.starts_with("vip-run study (Hello/1.0)") && subject.contains("FAILED (exit 1"),
        "{subject}"
    );
    let body = failure.body();
    assert!(body.contains("  main: application (exit 50)"), "{body}");
    assert!(body.contains("report: "), "{body}");
}

#[test]
fn mail_goes_over_starttls_with_its_login_and_a_relay_without_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = match crate::signals::Pki::make(dir.path()) {
        Ok(pki) => pki,
        Err(reason) => return crate::signals::skip(&reason),
    };
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let secure = Relay::start(Some(relay_tls(&pki)), true);
    let plain = Relay::start(None, true);
    let channel = |port: u16| {
        format!(
            "  - email:\n      host: localhost\n      port: {port}\n      from: vip-run@lab.example\n      to: [me@lab.example]\n      username: vip\n      password_env: SMTP_PASSWORD\n      events: [end]\n"
        )
    };
    let t = hello_test(
        &sb,
        &manifest(
            "hi",
            &format!("{}{}", channel(secure.port), channel(plain.port)),
        ),
    )
    .env("SMTP_PASSWORD", "smtp-pa55-word")
    .env("SSL_CERT_FILE", pki.ca.to_str().unwrap());
    let out = t.run_with(&["-v", "study.yaml"]);
    out.code(0);
    let mails = secure.mails();
    assert_eq!(mails.len(), 1, "{}", out.stderr);
    assert!(mails[0].tls, "sent after STARTTLS");
    assert_eq!(
        mails[0].auth,
        Some(("vip".to_owned(), "smtp-pa55-word".to_owned()))
    );
    // STARTTLS is required: a relay that does not offer it is never sent the login.
    assert!(plain.mails().is_empty());
    out.stderr_has("notify: could not tell email to me@lab.example via localhost:");
    assert!(!out.stderr.contains("smtp-pa55-word"));
    let pending = crate::support::walk(&t.dir().join(".vip-run/study/notify/pending"));
    assert_eq!(pending.len(), 1, "{pending:?}");
}

#[test]
fn a_dead_or_hanging_receiver_changes_neither_the_exit_code_nor_the_time_beyond_the_bound() {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let hanging = Receiver::hanging();
    let notify = "  - webhook:\n      url_env: HOOK\n      events: [start, end]\n  - healthchecks:\n      url_env: PING\n";
    // The same run, told nothing, in a folder of its own: the time to compare with.
    let started = Instant::now();
    hello_test(&sb, &manifest("hi", notify))
        .run_with(&["--no-notify", "study.yaml"])
        .code(0);
    let alone = started.elapsed();
    let t = hello_test(&sb, &manifest("hi", notify));
    assert!(hanging.hits().is_empty());

    let t = t
        .env("HOOK", &dead_url("/hook/T0/B0"))
        .env("PING", &hanging.url("/ping/abc"));
    let started = Instant::now();
    let out = t.run_with(&["study.yaml"]);
    let told = started.elapsed();
    out.code(0)
        .stderr_has("could not tell webhook $HOOK of the start")
        .stderr_has("kept for the next run");
    // 15 s at most after the run's end, and a little for the machine.
    assert!(
        told < alone + Duration::from_secs(15) + Duration::from_secs(4),
        "{told:?} against {alone:?} alone:\n{}",
        out.stderr
    );
    // The hanging receiver got the start (and was tried again), never answered.
    assert!(!hanging.hits_on("/ping/abc/start").is_empty());

    // Both notices of both channels wait in the spool, naming no URL; the starts count a
    // try, the ends, never tried behind them, none.
    let spool = t.dir().join(".vip-run/study/notify/pending");
    let mut pending = crate::support::walk(&spool);
    pending.sort();
    assert_eq!(pending.len(), 4, "{pending:?}");
    for file in &pending {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains("/hook/T0") && !text.contains("/ping/abc"),
            "{text}"
        );
        let doc: Value = serde_json::from_str(&text).unwrap();
        let tries = u32::from(doc["notice"]["event"] == "start");
        assert_eq!(doc["tries"], tries, "{file}: {text}");
    }

    // The next run, with the receivers back (the same channels, their URLs read again):
    // what waited goes first, oldest first, then the run's own.
    let live = Receiver::start();
    let t = t
        .env("HOOK", &live.url("/hook"))
        .env("PING", &live.url("/ping"));
    let out = t.run_with(&["-v", "study.yaml"]);
    out.code(0)
        .stderr_has("notice(s) an earlier run could not send");
    let hooks: Vec<Value> = live.hits_on("/hook").iter().map(Hit::json).collect();
    let events: Vec<&str> = hooks.iter().map(|h| h["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["start", "end", "start", "end"], "{hooks:?}");
    assert_eq!(hooks[0]["run"]["id"], hooks[1]["run"]["id"]);
    assert_ne!(hooks[0]["run"]["id"], hooks[2]["run"]["id"]);
    assert!(hooks[0]["at"].as_str() <= hooks[2]["at"].as_str());
    let pings: Vec<String> = live
        .hits_on("/ping")
        .iter()
        .map(|h| h.path.clone())
        .collect();
    assert_eq!(
        pings,
        ["/ping/start", "/ping", "/ping/start", "/ping"],
        "{pings:?}"
    );
    assert!(crate::support::walk(&spool).is_empty());
}

#[test]
fn the_command_line_replaces_or_silences_the_manifests_channels() {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let r = Receiver::start();
    let t = hello_test(
        &sb,
        &manifest(
            "hi",
            "  - webhook:\n      url_env: HOOK\n      events: [end]\n",
        ),
    )
    .env("HOOK", &r.url("/manifest"))
    .env("ADHOC", &r.url("/adhoc"));
    t.run_with(&["--no-notify", "study.yaml"]).code(0);
    assert!(r.hits().is_empty(), "{:?}", r.hits());
    t.run_with(&["--notify", "healthchecks=env:ADHOC", "study.yaml"])
        .code(0);
    let paths: Vec<String> = r.hits().iter().map(|h| h.path.clone()).collect();
    assert_eq!(paths, ["/adhoc/start", "/adhoc"]);
    // Checked before any work starts; a URL is never quoted back by vip-run itself.
    t.run_with(&["--notify", "slakc=env:X", "study.yaml"])
        .code(2)
        .stderr_has("did you mean `slack`?");
    t.run_with(&["--notify", "email=me@lab.example", "study.yaml"])
        .code(2)
        .stderr_has("set VIP_RUN_SMTP_HOST");
    t.run_with(&["--notify", "webhook=env:X", "--no-notify", "study.yaml"])
        .code(2);
}

#[test]
fn another_run_under_way_is_not_told_of_twice() {
    let sb = SandboxHandle::quick(Duration::from_secs(2));
    let r = Receiver::start();
    let notify = format!(
        "  - webhook:\n      url: {}\n      events: [start, end]\n",
        r.url("/hook")
    );
    let t = hello_test(&sb, &manifest("hi", &notify));
    let first = crate::support::Background::start(&t, &["study.yaml"]);
    first.wait_for("launched", Duration::from_secs(30));
    let second = t.run_with(&["study.yaml"]);
    assert_ne!(second.code, 0);
    second.stderr_has("another vip-run is running this manifest");
    let (code, _) = first.finish();
    assert_eq!(code, 0);
    let events: Vec<String> = r
        .hits()
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["start", "end"], "one run told, once");
}

#[test]
fn validate_points_at_each_notify_problem() {
    let cases = [
        (
            "  - webhook:\n      url_env: HOOK\n      events: [failure, stal]\n",
            &[
                "unknown event `stal`",
                "did you mean `stall`?",
                "study.yaml:13:",
            ][..],
        ),
        (
            "  - webhook:\n      url: ftp://hooks.example/T0/tok3n\n",
            &["the webhook URL must start with https://", "study.yaml:12:"][..],
        ),
        (
            "  - healthchecks:\n      url: http://hc.example/tok3n\n",
            &["the healthchecks URL uses plain http", "study.yaml:12:"][..],
        ),
        (
            "  - email:\n      host: smtp.example\n      from: a@lab.example\n",
            &["missing required key `to`", "add `to: [you@example.org]`"][..],
        ),
        (
            "  - email:\n      host: smtp.example\n      from: a@lab.example\n      to: [b@lab.example]\n      username: me\n      password: hunter2-tok3n\n",
            &[
                "a password is never written in the manifest",
                "password_env",
                "study.yaml:16:",
            ][..],
        ),
        (
            "  - webhok:\n      url_env: HOOK\n",
            &["unknown key `webhok`", "did you mean `webhook`?"][..],
        ),
        (
            "  - webhook:\n      url_env: HOOK\n      format: slak\n",
            &["unknown webhook format `slak`", "did you mean `slack`?"][..],
        ),
        (
            "  - healthchecks: {}\n",
            &["the healthchecks channel has no URL", "url_env"][..],
        ),
    ];
    for (notify, expected) in cases {
        let out = Test::new()
            .manifest(&manifest("hi", notify))
            .file("in.txt", "x\n")
            .args(&["validate", "study.yaml"])
            .run();
        for text in expected {
            out.stderr_has(text);
        }
        assert!(
            !out.stderr.contains("tok3n"),
            "a secret quoted:\n{}",
            out.stderr
        );
    }
}
