//! The README, as a new user follows it: `make run`'s script (its own DynamoDB Local and SES stand-in, on free
//! loopback ports, its data in a fresh folder), then, in "another terminal", the README's block of local
//! commands exactly as written (`source .local/env`, the curl, ticketctl). Each must work, and the e-mails of
//! the ticket the curl created must reach the mailbox through the stream, as the README says.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::unique;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `scripts/run.sh` in its own process group, stopped with all it started (as Ctrl-C would) when dropped.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

/// The shell block that follows `marker` in the README.
fn readme_block(marker: &str) -> String {
    doc_block("README.md", marker)
}

/// The shell block that follows `marker` in a page of the documentation.
fn doc_block(page: &str, marker: &str) -> String {
    let readme = std::fs::read_to_string(root().join(page)).unwrap();
    let after = &readme[readme.find(marker).unwrap_or_else(|| panic!("{page} says {marker:?}"))..];
    let start = after.find("```sh\n").expect("a shell block follows") + "```sh\n".len();
    after[start..start + after[start..].find("```").unwrap()].to_owned()
}

#[test]
fn the_readmes_local_commands_work_as_written_against_make_runs_stack() {
    // A working folder like a clone's: `.local` of its own, the built binaries at `target/`.
    let dir = std::env::temp_dir().join(unique("readme"));
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(root().join("target"), dir.join("target")).unwrap();
    let (api, dynamodb, ses) = (free_port(), free_port(), free_port());
    let (moto, smtp, invoke) = (free_port(), free_port(), free_port());
    let mut child = Command::new(root().join("scripts/run.sh"))
        .env("LOCAL_DIR", dir.join(".local"))
        .env("API_PORT", api.to_string())
        .env("DYNAMODB_PORT", dynamodb.to_string())
        .env("SES_PORT", ses.to_string())
        .env("MOTO_PORT", moto.to_string())
        .env("SMTP_PORT", smtp.to_string())
        .env("INVOKE_PORT", invoke.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("scripts/run.sh starts");
    // Read its output to the end, as a terminal would: the server's log goes there too.
    let out = BufReader::new(child.stdout.take().unwrap());
    let (lines, read) = std::sync::mpsc::channel();
    std::thread::spawn(move || out.lines().map_while(Result::ok).try_for_each(|l| lines.send(l)));
    let run = Run(child);

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut banner = String::new();
    while let Ok(line) = read.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("Ctrl-C stops everything") {
            break;
        }
    }
    assert!(banner.contains("ticket-api is running"), "make run's banner:\n{banner}");
    let env_file = format!("source {}/env", dir.join(".local").display());
    assert!(banner.contains(&env_file), "the banner points to the env file:\n{banner}");

    // A block of the README in "another terminal": a shell of its own in the clone, with only PATH and HOME.
    let terminal = |block: &str| {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .output()
            .expect("bash runs")
    };
    let block = readme_block("In another terminal, as written:");
    let done = terminal(&block);
    let stdout = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(
        done.status.success(),
        "the README's block failed:\n{block}\n{stdout}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let created: Value = serde_json::from_str(stdout.lines().next().unwrap()).expect("curl printed the 201's body");
    assert_eq!(created["ticketNumber"], 1, "{stdout}");
    assert!(created["privateUrl"].as_str().unwrap().starts_with(&format!("http://127.0.0.1:{api}/ticket/")));
    assert!(stdout.contains("Enquiry about pricing") && stdout.contains("user@email.com"), "tickets list: {stdout}");

    // The ticket's e-mails reach make run's mailbox from the stream, within moments of the 201.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mail = loop {
        let got = Command::new("curl").args(["-s", &format!("http://127.0.0.1:{ses}/store")]).output().unwrap();
        let store: Value = serde_json::from_slice(&got.stdout).expect("the mailbox answers JSON");
        let mail = store["emails"].as_array().unwrap().clone();
        if mail.len() >= 2 || Instant::now() > deadline {
            break mail;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let to: Vec<&str> = mail.iter().filter_map(|m| m["destination"]["to"][0].as_str()).collect();
    assert!(to.contains(&"user@email.com") && to.contains(&"team@demo.localhost"), "the mailbox: {to:?}");

    // SES's events, played by make run's stand-in, then mark both e-mails delivered; the metrics are EMF lines
    // in the same output, as the banner says.
    assert!(banner.contains("Metrics:") && banner.contains("namespace TicketApi"), "{banner}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut output = String::new();
    while !(output.matches("SES feedback recorded").count() >= 2 && output.contains("\"EmailsDelivered\"")) {
        match read.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                output.push_str(&line);
                output.push('\n');
            }
            Err(_) => break,
        }
    }
    let delivered = output.lines().filter(|l| l.contains("SES feedback recorded") && l.contains("delivered")).count();
    assert_eq!(delivered, 2, "both e-mails marked delivered by the stand-in of SES's events:\n{output}");
    assert!(output.contains("{\"_aws\"") && output.contains("\"EmailsDelivered\""), "EMF lines:\n{output}");

    // The requester answers their e-mail from the command line, over make run's SMTP: the reply is in the
    // thread without its quote, and the team's mailbox gets it.
    let reply_block = readme_block("from the command line, as written");
    let sent = Instant::now();
    let done = terminal(&reply_block);
    let shown = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(
        done.status.success(),
        "the README's reply block failed:\n{reply_block}\n{shown}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(shown.contains("Is there a discount for non-profits?"), "the reply is in the thread: {shown}");
    assert!(!shown.contains("Reply above this line"), "without the quote: {shown}");
    let in_thread = sent.elapsed();
    let deadline = Instant::now() + Duration::from_secs(20);
    let to_team = loop {
        let got = Command::new("curl").args(["-s", &format!("http://127.0.0.1:{ses}/store")]).output().unwrap();
        let store: Value = serde_json::from_slice(&got.stdout).unwrap();
        let to_team: Vec<Value> = store["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["destination"]["to"][0] == "team@demo.localhost")
            .cloned()
            .collect();
        if to_team.len() >= 2 || Instant::now() > deadline {
            break to_team;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(to_team.len(), 2, "the reply reached the team's mailbox");
    assert!(to_team[1]["body"]["text"].as_str().unwrap().contains("Is there a discount"));

    // docs/api.md's file upload, as written: the upload asked for, the file posted to the S3 stand-in through its
    // form, a create that lists it.
    let files = format!("{env_file}\n{}", doc_block("docs/api.md", "(after `source .local/env`), as written:"));
    let done = terminal(&files);
    let stdout = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(
        done.status.success(),
        "docs/api.md's block failed:\n{files}\n{stdout}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let created: Value = serde_json::from_str(stdout.lines().last().unwrap()).expect("curl printed the 201's body");
    assert_eq!(created["ticketNumber"], 2, "the create with its file: {stdout}");
    drop(run);
    std::fs::remove_dir_all(&dir).unwrap();
    println!(
        "README: the reply from the command line in the thread after {in_thread:?}, in the team's mailbox after {:?}",
        sent.elapsed()
    );
    println!(
        "README: make run, then its {} local commands as written: a ticket, both e-mails in the mailbox, delivered",
        block.lines().count()
    );
}
