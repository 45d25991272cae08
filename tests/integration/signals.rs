//! VIP's other failure signals, through the binary: a server certificate this machine does
//! not trust (refused at once, never retried, with how to trust a private authority), and
//! `SSL_CERT_FILE` proved to be honoured; VIP's engine saturated (2003: waited out, nothing
//! launched twice) or failing to start an execution (2004: that item fails, with VIP's
//! support to contact, the others finish); an upload VIP gave up on that arrived all the
//! same (looked at, never sent twice).
//!
//! The TLS tests make their certificates with the `openssl` command; without it they print
//! `skipped: <reason>`, and fail under `CI=true`, where a skipped test hides a regression.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::run::DEMO;
use crate::support::{Output, SandboxHandle};

/// Says why a test did not run; under `CI=true` that is a failure.
fn skip(reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "skipped under CI=true, where every test must run: {reason}"
    );
    eprintln!("skipped: {reason}");
}

/// A private certificate authority and a server certificate it signed for 127.0.0.1 and
/// localhost, made with the `openssl` command in `dir`.
struct Pki {
    /// The authority's certificate (what `SSL_CERT_FILE` names to trust it).
    ca: PathBuf,
    /// The server's certificate and key.
    cert: PathBuf,
    key: PathBuf,
    /// A certificate and key the authority signed for another name.
    stranger: (PathBuf, PathBuf),
}

impl Pki {
    /// Makes them, or says why it cannot.
    fn make(dir: &Path) -> Result<Self, String> {
        let openssl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .map_err(|e| format!("the openssl command cannot be run ({e})"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "openssl {} failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(
            &[
                &["req", "-x509", "-nodes", "-days", "2"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-subj",
                    "/CN=vip-run test authority",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                ],
            ]
            .concat(),
        )?;
        // One for this server, one for another name, both signed by the authority.
        for (name, names) in [
            ("server", "IP:127.0.0.1,DNS:localhost"),
            ("stranger", "DNS:elsewhere.invalid"),
        ] {
            std::fs::write(
                dir.join(format!("{name}.ext")),
                format!("basicConstraints=critical,CA:FALSE\nsubjectAltName={names}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"),
            )
            .map_err(|e| e.to_string())?;
            openssl(
                &[
                    &["req", "-nodes"][..],
                    &ec,
                    &[
                        "-keyout",
                        &format!("{name}.key"),
                        "-out",
                        &format!("{name}.csr"),
                        "-subj",
                        &format!("/CN={name}"),
                    ],
                ]
                .concat(),
            )?;
            openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ])?;
        }
        Ok(Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            stranger: (dir.join("stranger.pem"), dir.join("stranger.key")),
        })
    }
}

/// A TLS-terminating proxy on loopback in front of a sandbox, counting the connections
/// (each one a TLS handshake begun) it accepted.
struct TlsProxy {
    url: String,
    handshakes: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsProxy {
    /// Serves `cert` (with its `key`) in front of the sandbox at `upstream`.
    fn start((cert, key): (&Path, &Path), upstream: &str) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches("/rest")
            .to_owned();
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("https://{}/rest", listener.local_addr().unwrap());
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&handshakes);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    // A refused certificate ends the handshake here: nothing to forward.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Self {
            url,
            handshakes,
            _runtime: runtime,
        }
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

/// Runs the binary against `server` in `dir`, with the system's own trust settings unless
/// `cert_file` names the authorities to trust.
fn vip_run(dir: &Path, server: &str, cert_file: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vip-run"));
    cmd.current_dir(dir)
        .args(["--server", server])
        .args(args)
        .env("VIP_API_KEY", DEMO)
        .env("NO_COLOR", "1")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(file) = cert_file {
        cmd.env("SSL_CERT_FILE", file);
    }
    let out = cmd.output().unwrap();
    let output = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for text in [&output.stdout, &output.stderr] {
        assert!(!text.contains(DEMO), "the key was printed:\n{text}");
    }
    output
}

/// The sandbox behind a TLS proxy, and the certificates, or `None` (said) without openssl.
fn behind_tls() -> Option<(SandboxHandle, TlsProxy, Pki, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let pki = match Pki::make(dir.path()) {
        Ok(pki) => pki,
        Err(reason) => {
            skip(&reason);
            return None;
        }
    };
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let proxy = TlsProxy::start((&pki.cert, &pki.key), sb.url());
    Some((sb, proxy, pki, dir))
}

#[test]
fn an_untrusted_certificate_fails_at_once_with_how_to_trust_a_private_authority() {
    let Some((_sb, proxy, _pki, dir)) = behind_tls() else {
        return;
    };
    let started = Instant::now();
    let out = vip_run(dir.path(), &proxy.url, None, &["whoami"]);
    let took = started.elapsed();
    // 5, VIP unreachable: no trusted connection could be made (see `Error::exit_code`).
    out.code(5)
        .stderr_has("the TLS certificate of 127.0.0.1 was refused")
        .stderr_has("signed by an authority this machine does not trust")
        .stderr_has("SSL_CERT_FILE=/path/to/ca-bundle.pem");
    assert!(
        !out.stderr.contains("trying again"),
        "a certificate is never retried:\n{}",
        out.stderr
    );
    assert_eq!(proxy.handshakes(), 1, "one attempt:\n{}", out.stderr);
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn ssl_cert_file_naming_the_authority_is_honoured() {
    let Some((_sb, proxy, pki, dir)) = behind_tls() else {
        return;
    };
    let out = vip_run(dir.path(), &proxy.url, Some(&pki.ca), &["whoami"]);
    out.code(0).stdout_has("Demo");
    // Under the name in the certificate too.
    let by_name = proxy.url.replace("127.0.0.1", "localhost");
    vip_run(dir.path(), &by_name, Some(&pki.ca), &["whoami"])
        .code(0)
        .stdout_has("Demo");
}

#[test]
fn a_certificate_for_another_name_is_refused_naming_it() {
    let Some((sb, _proxy, pki, dir)) = behind_tls() else {
        return;
    };
    // Signed by a trusted authority, but for another server.
    let stranger = TlsProxy::start((&pki.stranger.0, &pki.stranger.1), sb.url());
    let out = vip_run(dir.path(), &stranger.url, Some(&pki.ca), &["whoami"]);
    out.code(5)
        .stderr_has("the TLS certificate of 127.0.0.1 was refused")
        .stderr_has("issued for another name")
        .stderr_has("elsewhere.invalid")
        .stderr_has("the authorities trusted are those of SSL_CERT_FILE=");
    assert_eq!(stranger.handshakes(), 1, "one attempt:\n{}", out.stderr);
}

#[test]
fn an_unusable_ssl_cert_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let server = "https://vip.invalid/rest";
    vip_run(dir.path(), server, Some(&junk), &["whoami"])
        .code(2)
        .stderr_has("SSL_CERT_FILE names")
        .stderr_has("holds no PEM certificate");
    vip_run(
        dir.path(),
        server,
        Some(&dir.path().join("missing.pem")),
        &["whoami"],
    )
    .code(2)
    .stderr_has("which cannot be read");
}

#[test]
fn a_run_stops_at_once_on_an_untrusted_certificate() {
    let Some((sb, proxy, _pki, dir)) = behind_tls() else {
        return;
    };
    std::fs::write(
        dir.path().join("study.yaml"),
        crate::run::hello_matrix(2, 2),
    )
    .unwrap();
    std::fs::write(dir.path().join("in.txt"), "hello\n").unwrap();
    let started = Instant::now();
    let out = vip_run(
        dir.path(),
        &proxy.url,
        None,
        &["--progress", "plain", "run", "study.yaml"],
    );
    out.code(5)
        .stderr_has("was refused")
        .stderr_has("SSL_CERT_FILE=");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited: {:?}",
        started.elapsed()
    );
    assert!(
        sb.requests().is_empty(),
        "nothing reached VIP: {:?}",
        sb.calls_since(0)
    );
}
