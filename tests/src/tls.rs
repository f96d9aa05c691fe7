//! Test certificates, made with the `openssl` command at run time (nothing secret is committed):
//! a CA, a server certificate for 127.0.0.1 / localhost and a client certificate signed by it.

use std::path::{Path, PathBuf};

use crate::Cmd;

/// PEM files of a test CA and the certificates it signed.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// `openssl ARGS` with file names relative to `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if a.ends_with(".pem") || a.ends_with(".key") || a.ends_with(".csr") || a.ends_with(".ext") {
                dir.join(a).display().to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    let ran = Cmd::new("openssl").args(&args).env("OPENSSL_CONF", "/dev/null").run();
    assert!(ran.ok(), "openssl {}: {}{}", args.join(" "), ran.stdout, ran.stderr);
}

impl TestPki {
    /// A fresh CA named `name` in `dir/name/`, with a server and a client certificate.
    pub fn generate(dir: &Path, name: &str) -> TestPki {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        let subject = format!("/CN=seaf-backup test CA {name}");
        openssl(
            &d,
            &[
                &["req", "-x509", "-days", "2", "-keyout", "ca.key", "-out", "ca.pem", "-subj", &subject][..],
                &curve[..],
                &["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        for (leaf, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
            let (key, csr, pem, ext) =
                (format!("{leaf}.key"), format!("{leaf}.csr"), format!("{leaf}.pem"), format!("{leaf}.ext"));
            let subject = format!("/CN=seaf-backup test {leaf}");
            openssl(&d, &[&["req", "-new", "-keyout", &key, "-out", &csr, "-subj", &subject][..], &curve[..]].concat());
            std::fs::write(
                d.join(&ext),
                format!(
                    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n\
                     subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                ),
            )
            .unwrap();
            openssl(
                &d,
                &[
                    "x509",
                    "-req",
                    "-days",
                    "2",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-extfile",
                    &ext,
                ],
            );
        }
        TestPki {
            ca: d.join("ca.pem"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key"),
            client_cert: d.join("client.pem"),
            client_key: d.join("client.key"),
        }
    }
}
