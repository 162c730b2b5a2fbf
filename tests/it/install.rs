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
        found || std::env::var("CI").map_or(true, |v| v != "true"),
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
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    // Sourced and asked, it completes a prefix to the flags it stands for.
    let probe = format!(
        "{script}\nCOMP_WORDS=(wssniff --key); COMP_CWORD=1; COMP_LINE='wssniff --key'; \
         COMP_POINT=13; _wssniff wssniff --key wssniff; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let probed = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let replies = String::from_utf8_lossy(&probed.stdout);
    assert!(
        replies.lines().any(|l| l == "--keylog") && replies.lines().any(|l| l == "--keylog-max-sessions"),
        "completing --key gave {replies:?}"
    );
}

#[test]
fn every_shell_gets_a_script_naming_the_command() {
    for kind in ["complete-zsh", "complete-fish", "complete-powershell", "complete-elvish"] {
        let out = wssniff(&["--generate", kind]);
        assert!(out.status.success(), "{kind}");
        let script = stdout(&out);
        assert!(script.contains("wssniff") && script.contains("keylog"), "{kind}");
    }
    let bad = wssniff(&["--generate", "complete-tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}
