//! `wss://` through a TLS-terminating proxy with a certificate from a private CA (as on
//! a farm network): the client trusts the CA given in `ClientConfig::tls_ca_files`,
//! fails cleanly (naming the certificate problem) without it, and names a CA file it
//! cannot read. The CA and the `localhost` certificate are generated at test time; the
//! proxy runs in the test on 127.0.0.1:0 and forwards plain TCP to the router.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::net::{TcpListener, TcpStream};
use verger::client::{Client, ClientConfig, RegisterOptions};
use verger::list;
use verger::transport::{self, ConnectOptions, TransportError};
use verger::wamp::{Dict, Payload, Value};
use verger_testkit::{start_router, test_config, within, within_for};

/// A file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn write(tag: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "verger-test-{tag}-{}-{}.pem",
            std::process::id(),
            verger::wamp::ids::random_id()
        ));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A CA (PEM) and a rustls server config with a `localhost` certificate it signed.
fn pki() -> (String, Arc<rustls::ServerConfig>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "verger test farm CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &*ca).unwrap();

    let key = rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key)
        .unwrap();
    (ca.pem(), Arc::new(server))
}

/// A TLS-terminating proxy on 127.0.0.1:0 forwarding to `backend` in plain TCP; runs
/// until the test's runtime ends.
async fn start_proxy(tls: Arc<rustls::ServerConfig>, backend: SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust us aborts the handshake: just drop it.
                let Ok(Ok(mut front)) =
                    tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let Ok(mut back) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut front, &mut back).await;
            });
        }
    });
    port
}

fn config(port: u16, ca_files: Vec<PathBuf>) -> ClientConfig {
    let mut c = ClientConfig::new(format!("wss://localhost:{port}/ws"), "orchard");
    c.tls_ca_files = ca_files;
    c.connect_timeout = Duration::from_secs(2);
    c.startup_timeout = Duration::from_secs(3);
    c.call_timeout = Some(Duration::from_secs(4));
    c.close_timeout = Duration::from_secs(1);
    c
}

#[tokio::test]
async fn wss_through_a_proxy_with_a_private_ca() {
    let router = start_router(test_config()).await;
    let (ca_pem, server_tls) = pki();
    let ca = TempFile::write("ca", &ca_pem);
    let port = start_proxy(server_tls, router.local_addr()).await;

    // (a) Trusting the CA: register + call round trip over wss.
    let callee = within(
        "callee connect",
        Client::connect(config(port, vec![ca.0.clone()])),
    )
    .await
    .expect("callee connects over wss");
    let caller = within(
        "caller connect",
        Client::connect(config(port, vec![ca.0.clone()])),
    )
    .await
    .expect("caller connects over wss");
    let reg = within(
        "register",
        callee.register(
            "com.example.tls.add2",
            RegisterOptions::default(),
            |inv: verger::client::Invocation| {
                let sum: i64 = inv.args.iter().filter_map(Value::as_i64).sum();
                std::future::ready(Ok(Payload::args(list![sum])))
            },
        ),
    )
    .await
    .expect("register");
    let result = within(
        "call",
        caller.call("com.example.tls.add2", list![2, 3], Dict::new()),
    )
    .await
    .expect("call over wss");
    assert_eq!(result.args, list![5]);
    within("unregister", reg.unregister()).await.unwrap();
    within("close caller", caller.close()).await.unwrap();
    within("close callee", callee.close()).await.unwrap();

    // (b) Without the CA (webpki roots only, reconnecting as components do): a clean
    // error naming the certificate problem within the startup timeout, not a hang.
    let err = within_for(
        Duration::from_secs(10),
        "connect without the CA",
        Client::connect(config(port, Vec::new())),
    )
    .await
    .expect_err("an untrusted certificate must not connect");
    let text = err.to_string();
    assert!(text.contains("certificate"), "{text}");

    // The same at the transport level, attempt by attempt.
    let options = ConnectOptions::default();
    let err = within(
        "transport connect without the CA",
        transport::connect(&format!("wss://localhost:{port}/ws"), &options),
    )
    .await
    .expect_err("untrusted");
    assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");

    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn unusable_ca_files_are_named_in_the_error() {
    let missing =
        std::env::temp_dir().join(format!("verger-test-no-such-ca-{}.pem", std::process::id()));
    let garbage = TempFile::write("garbage", "this is not a certificate\n");
    let broken = TempFile::write(
        "broken",
        "-----BEGIN CERTIFICATE-----\nMIIB\n", // no END marker
    );
    for path in [&missing, &garbage.0, &broken.0] {
        // Transport level: fails before any network I/O (nothing listens on port 9).
        let options = ConnectOptions {
            tls_ca_files: vec![path.clone()],
            ..ConnectOptions::default()
        };
        let err = within(
            "transport connect with a bad CA file",
            transport::connect("wss://localhost:9/ws", &options),
        )
        .await
        .expect_err("a bad CA file must fail");
        assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&path.display().to_string()),
            "{path:?}: {text}"
        );

        // Client level, reconnect disabled: the first attempt's error comes back.
        let mut c = config(9, vec![path.clone()]);
        c.reconnect = verger::client::ReconnectPolicy::disabled();
        let err = within("client connect with a bad CA file", Client::connect(c))
            .await
            .expect_err("a bad CA file must fail");
        let text = err.to_string();
        assert!(
            text.contains(&path.display().to_string()),
            "{path:?}: {text}"
        );
    }
}
