//! A real SMTP server for the tests: Debian's aiosmtpd, run as a process on a free
//! loopback port, storing what it receives in a Maildir. It can be stopped and
//! started again on the same port, like a mail server that goes down.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One received email.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
}

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Accepts every email into the Maildir.
    Accept,
    /// Refuses every recipient for good: `550 5.1.1`.
    Refuse,
    /// Accepts the connection and never says a word, like a hung server.
    Stall,
}

/// The server.
pub struct SmtpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    behaviour: Behaviour,
}

/// aiosmtpd with a handler that refuses every recipient permanently.
const REFUSING: &str = "
import sys, time
from aiosmtpd.controller import Controller
class Refuse:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return '550 5.1.1 mailbox unavailable'
Controller(Refuse(), hostname='127.0.0.1', port=int(sys.argv[1])).start()
time.sleep(3600)
";

/// A TCP server that accepts connections and never answers.
const STALLING: &str = "
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(16)
held = []
while True:
    held.append(s.accept())
";

const PYTHON: &str = "/usr/bin/python3";

impl SmtpServer {
    /// Starts a server that accepts mail, on a free port.
    pub fn start() -> Self {
        Self::start_with(Behaviour::Accept)
    }

    /// Starts a server that answers as `behaviour` says, on a free port.
    pub fn start_with(behaviour: Behaviour) -> Self {
        let mut dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut server = Self {
                port,
                dir,
                child: None,
                behaviour,
            };
            server.resume();
            // Another test may have taken the port between our probe and the bind:
            // then our server exited and the port answers for someone else.
            std::thread::sleep(Duration::from_millis(100));
            if server
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_none())
            {
                return server;
            }
            dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
        }
        panic!("no free port for the SMTP server");
    }

    /// The URL Keyward is given.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops accepting mail, like a server that is down.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Wait until the port refuses connections.
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts again on the same port and Maildir.
    pub fn resume(&mut self) {
        assert!(
            std::path::Path::new(PYTHON).exists(),
            "python3 with aiosmtpd is installed (.ci/run installs python3-aiosmtpd)"
        );
        let mut command = Command::new(PYTHON);
        match self.behaviour {
            Behaviour::Accept => command
                .args([
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    &format!("127.0.0.1:{}", self.port),
                    "-c",
                    "aiosmtpd.handlers.Mailbox",
                ])
                .arg(self.dir.path().join("maildir")),
            Behaviour::Refuse => command.args(["-c", REFUSING, &self.port.to_string()]),
            Behaviour::Stall => command.args(["-c", STALLING, &self.port.to_string()]),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("aiosmtpd did not start listening");
    }

    /// Every email received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let dir = self.dir.path().join("maildir").join("new");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        // Arrival order: Maildir names do not sort by time within a second.
        files.sort_by_key(|f| {
            (
                std::fs::metadata(f).and_then(|m| m.modified()).ok(),
                f.clone(),
            )
        });
        files
            .iter()
            .map(|f| parse(&std::fs::read(f).unwrap()))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Parses a raw email into the parts the tests look at.
pub fn parse(raw: &[u8]) -> Mail {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a parsable email");
    let to = message
        .to()
        .map(|a| {
            a.iter()
                .filter_map(|addr| addr.address().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Mail {
        to,
        subject: message.subject().unwrap_or_default().to_owned(),
        message_id: message.message_id().unwrap_or_default().to_owned(),
        text: message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        html: message
            .body_html(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
    }
}
