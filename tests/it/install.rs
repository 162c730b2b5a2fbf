//! Installable: the man page and shell completions come from the clap definition, so every
//! flag is in them, and each is well formed for the program that reads it.

use std::io::Write;
use std::process::{Command, Stdio};

use clap::CommandFactory;
use wssniff::cli::Cli;

use crate::util::{stdout, wssniff};

/// Every long flag `wssniff` accepts, from the same definition the binary parses with.
fn long_flags() -> Vec<String> {
    Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect()
}

/// Whether `tool` runs; under `CI=true` (whose setup installs it) a missing tool fails.
fn have(tool: &str, arg: &str) -> bool {
    let found = Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found || !crate::util::under_ci(),
        "CI=true but {tool} is not installed: the check cannot run"
    );
    if !found {
        eprintln!("skipped: {tool} not installed");
    }
    found
}

#[test]
fn man_page_documents_every_flag_and_the_exit_statuses() {
    let out = wssniff(&["--generate", "man"]);
    assert!(out.status.success());
    let man = stdout(&out);
    assert!(man.contains(".TH wssniff 1"), "no title line");
    let flags = long_flags();
    assert!(flags.len() > 30, "{flags:?}");
    for flag in &flags {
        // roff writes a hyphen as `\-`.
        let escaped = format!("\\fB\\-\\-{}\\fR", flag.replace('-', "\\-"));
        assert!(man.contains(&escaped), "--{flag} missing from the man page");
    }
    for section in [".SH EXAMPLES", ".SH EXIT STATUS", ".SH SEE ALSO"] {
        assert!(man.contains(section), "{section} missing");
    }
    // Each documented exit status is one the binary uses (src/main.rs).
    for status in ["\n0\n", "\n1\n", "\n2\n", "\n3\n"] {
        assert!(man.contains(status), "exit status {status:?} missing");
    }
    if have("groff", "-v") {
        let mut groff = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(man.as_bytes())
            .unwrap();
        let result = groff.wait_with_output().unwrap();
        let warnings = String::from_utf8_lossy(&result.stderr);
        assert!(
            result.status.success() && warnings.is_empty(),
            "groff: {warnings}"
        );
    }
}

#[test]
fn bash_completion_parses_and_offers_every_flag() {
    let out = wssniff(&["--generate", "complete-bash"]);
    assert!(out.status.success());
    let script = stdout(&out);
    for flag in long_flags() {
        assert!(
            script.contains(&format!("--{flag}")),
            "--{flag} missing from the bash completion"
        );
    }
    let check = Command::new("bash")
        .args(["-n", "-c", &script])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Sourced and asked, it completes a prefix to the flags it stands for.
    let probe = format!(
        "{script}\nCOMP_WORDS=(wssniff --key); COMP_CWORD=1; COMP_LINE='wssniff --key'; \
         COMP_POINT=13; _wssniff wssniff --key wssniff; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let probed = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let replies = String::from_utf8_lossy(&probed.stdout);
    assert!(
        replies.lines().any(|l| l == "--keylog")
            && replies.lines().any(|l| l == "--keylog-max-sessions"),
        "completing --key gave {replies:?}"
    );
}

#[test]
fn every_shell_gets_a_script_naming_the_command() {
    for kind in [
        "complete-zsh",
        "complete-fish",
        "complete-powershell",
        "complete-elvish",
    ] {
        let out = wssniff(&["--generate", kind]);
        assert!(out.status.success(), "{kind}");
        let script = stdout(&out);
        assert!(
            script.contains("wssniff") && script.contains("keylog"),
            "{kind}"
        );
    }
    let bad = wssniff(&["--generate", "complete-tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// The unit's `ExecStart` words after the program, with its variables.
fn unit_exec_args(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let mut words = line.split_whitespace().map(str::to_owned);
    assert_eq!(words.next().as_deref(), Some("/usr/bin/wssniff"));
    words.collect()
}

#[test]
fn systemd_unit_runs_flags_the_binary_accepts() {
    let root = crate::util::root();
    let unit = std::fs::read_to_string(root.join("packaging/wssniff.service")).unwrap();
    let dir = std::env::temp_dir().join(format!("wssniff-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The same flags on a sample instead of an interface, with the folders moved to a temp
    // directory: a flag combination the binary refuses fails here, not on a sensor at boot.
    let sample = root.join("samples/python-websockets-ok.pcap");
    let mut args = Vec::new();
    let mut words = unit_exec_args(&unit).into_iter();
    while let Some(w) = words.next() {
        match w.as_str() {
            "-i" => {
                assert_eq!(words.next().as_deref(), Some("${WSSNIFF_INTERFACE}"));
                args.push("-r".to_owned());
                args.push(sample.display().to_string());
            }
            "$WSSNIFF_OPTS" | "$WSSNIFF_FILTER" => {}
            _ => args.push(
                w.replace("/var/log/wssniff", &dir.display().to_string())
                    .replace("/var/lib/wssniff", &dir.display().to_string()),
            ),
        }
    }
    let out = crate::util::command().args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        crate::util::stderr(&out)
    );
    let lines = std::fs::read_to_string(dir.join("wssniff.jsonl")).unwrap();
    assert!(lines
        .lines()
        .any(|l| l.starts_with(r#"{"type":"handshake""#)));
    assert!(dir.join("redact.key").exists());
    // Capabilities only, never root, and it does not restart on a usage error.
    for line in [
        "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN",
        "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN",
        "DynamicUser=yes",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn systemd_unit_verifies() {
    if !have("systemd-analyze", "--version") {
        return;
    }
    let root = crate::util::root();
    let dir = std::env::temp_dir().join(format!("wssniff-verify-{}", std::process::id()));
    let man1 = dir.join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    std::fs::write(
        man1.join("wssniff.1"),
        wssniff(&["--generate", "man"]).stdout,
    )
    .unwrap();
    let unit = std::fs::read_to_string(root.join("packaging/wssniff.service"))
        .unwrap()
        .replace("/usr/bin/wssniff", env!("CARGO_BIN_EXE_wssniff"));
    let path = dir.join("wssniff.service");
    std::fs::write(&path, unit).unwrap();
    // MANPATH lets the Documentation=man:wssniff(1) check find the generated page.
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("MANPATH", dir.join("man"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    std::fs::remove_dir_all(&dir).unwrap();
}
