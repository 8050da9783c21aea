//! A TLS front for a plain-HTTP stand-in, on 127.0.0.1 with a certificate of its own test CA: to the client,
//! what an AWS endpoint is (a handshake, a chain to verify), which the stand-ins are not. The client trusts the
//! CA through `AWS_CA_BUNDLE`, as a deployment behind a TLS-inspecting proxy would. Shared by the tests and the
//! cold-start benchmark.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A test CA: its certificate in PEM (what `AWS_CA_BUNDLE` names), and what it signs servers' certificates with.
pub struct TestCa {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(Vec::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "ticket-api test CA");
        let pem = params.self_signed(&key).expect("the CA signs itself").pem();
        Self { pem, issuer: Issuer::new(params, key) }
    }

    /// The CA's certificate in a file, for `AWS_CA_BUNDLE`.
    pub fn file(&self) -> CaFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("ticket-api-test-ca-{}-{}.pem", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, &self.pem).expect("the CA file is written");
        CaFile { path }
    }

    /// Forwards TLS connections on 127.0.0.1 (the certificate's name) to the plain-HTTP `upstream`.
    pub async fn front(&self, upstream: &str) -> TlsFront {
        let key = KeyPair::generate().expect("a key");
        let params = CertificateParams::new(vec!["127.0.0.1".into()]).expect("server parameters");
        let certificate = params.signed_by(&key, &self.issuer).expect("the CA signs it");
        let chain = vec![CertificateDer::from(certificate.der().to_vec())];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .expect("a certificate and its key");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("https://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream, counted) = (acceptor.clone(), upstream.clone(), counted.clone());
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(client).await else { return };
                    counted.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        TlsFront { url, handshakes }
    }
}

/// A TLS front's address, and how many handshakes it has completed.
pub struct TlsFront {
    pub url: String,
    handshakes: Arc<AtomicUsize>,
}

impl TlsFront {
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

/// The CA's certificate in a file of the system's temporary folder, removed when dropped.
pub struct CaFile {
    pub path: std::path::PathBuf,
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
