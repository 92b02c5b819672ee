//! Engine B: a second Docker daemon on this machine that the remote-engine
//! tests treat as a second VPS, reached over TCP with mutual TLS.
//!
//! `fixtures/engine-b/up.sh` starts it (own socket, data-root, exec-root, pid
//! file, bridge and containerd, the test image loaded) and `down.sh` removes
//! every trace of it; the guard runs the second when it drops, also when the
//! test panics. See up.sh for why B runs without its own iptables rules and how
//! its containers reach ports that engine A publishes.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use super::*;

/// A running engine B, removed when dropped.
pub struct EngineB {
    /// Everything B keeps on disk: socket, data-root, exec-root, pid file, certificates.
    pub dir: PathBuf,
    /// B's TLS endpoint, `tcp://127.0.0.1:PORT`.
    pub tcp: String,
    /// B's local socket, `unix://DIR/docker.sock`, for checks that bypass TLS.
    pub unix: String,
    /// The client certificate directory (`ca.pem`, `cert.pem`, `key.pem`), as
    /// `DOCKER_CERT_PATH` expects it.
    pub cert_path: PathBuf,
    /// B's bridge interface on the host (`pgsb<N>`).
    pub bridge: String,
    /// B's bridge gateway: a container on B reaches a port that engine A
    /// publishes by dialling this address.
    pub gateway: String,
}

impl EngineB {
    /// Starts engine B on a free port in a fresh directory under /tmp; panics
    /// with up.sh's output when it fails (up.sh has then removed what it made).
    pub fn start() -> EngineB {
        require_docker();
        let dir = PathBuf::from("/tmp").join(unique("pgshadow-engine-b"));
        let port = free_port();
        fixture::up("engine-b", &dir, &[&port.to_string()]);

        // up.sh records "BRIDGE GATEWAY SUBNET" in DIR/bridge.
        let mut fields = fixture::recorded(&dir, "bridge").into_iter();
        let bridge = fields.next().expect("bridge name in DIR/bridge");
        let gateway = fields.next().expect("gateway in DIR/bridge");
        EngineB {
            tcp: format!("tcp://127.0.0.1:{port}"),
            unix: format!("unix://{}", dir.join("docker.sock").display()),
            cert_path: dir.join("certs"),
            dir,
            bridge,
            gateway,
        }
    }

    /// The environment a `pgshadow` child needs to talk TLS to B: the
    /// `tcp://` address itself comes from its config (`docker_host`), so that
    /// engine A stays the default for everything else.
    pub fn tls_env(&self) -> [(&'static str, String); 2] {
        [
            ("DOCKER_TLS_VERIFY", "1".to_string()),
            ("DOCKER_CERT_PATH", self.cert_path.display().to_string()),
        ]
    }

    /// Runs the docker CLI against B over TCP with the client certificate.
    pub fn docker_tcp(&self, args: &[&str]) -> Output {
        let cert = |name: &str| self.cert_path.join(name).display().to_string();
        Command::new("docker")
            .args(["-H", &self.tcp, "--tlsverify"])
            .args(["--tlscacert", &cert("ca.pem")])
            .args(["--tlscert", &cert("cert.pem")])
            .args(["--tlskey", &cert("key.pem")])
            .args(args)
            .output()
            .expect("run docker")
    }

    /// [`EngineB::docker_tcp`], asserting success; returns stdout trimmed.
    pub fn docker_tcp_ok(&self, args: &[&str]) -> String {
        let out = self.docker_tcp(args);
        assert!(
            out.status.success(),
            "docker -H {} {args:?} failed: {}",
            self.tcp,
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The pid of B's dockerd, from its pid file.
    pub fn dockerd_pid(&self) -> u32 {
        super::fixture::read_pid(&self.dir.join("docker.pid"))
    }

    /// The pid of the containerd that B's dockerd runs, from its pid file.
    pub fn containerd_pid(&self) -> u32 {
        super::fixture::read_pid(&self.dir.join("exec/containerd/containerd.pid"))
    }
}

impl Drop for EngineB {
    fn drop(&mut self) {
        fixture::down("engine-b", &self.dir);
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
