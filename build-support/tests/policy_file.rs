//! The `build.rs` path: TOML policy files, their errors' line:col, and the file written to
//! `OUT_DIR`.

use std::fs;
use std::path::PathBuf;

use network_sandbox_build::file::{
    compile_file_to, parse_policy_toml, try_compile_file, Position, OUTPUT_FILE,
};
use network_sandbox_build::model::{Fallback, Mode, ReportTo};

/// A fresh directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "network-sandbox-build-test-{}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The single error of `toml`, as (line, column, message).
fn error_at(toml: &str) -> (usize, usize, String) {
    let errors = parse_policy_toml(toml).expect_err("policy should be rejected");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let p = Position::of(toml, errors[0].range.start);
    (p.line, p.column, errors[0].message.clone())
}

#[test]
fn all_keys() {
    let p = parse_policy_toml(
        r#"
# comment
allow = ["127.0.0.2:443", "udp://[::1]:53"]
audit = true
fallback = "deny-all"
report = "off"
"#,
    )
    .unwrap();
    assert_eq!(p.endpoints.len(), 2);
    assert_eq!(p.endpoints[1].origin.index, 1);
    assert_eq!(p.options.mode, Mode::Audit);
    assert_eq!(p.options.fallback, Fallback::DenyAll);
    assert_eq!(p.options.report, ReportTo::Off);
}

#[test]
fn one_string_or_none() {
    let p = parse_policy_toml("allow = '10.0.0.0/8:80'").unwrap();
    assert_eq!(p.endpoints.len(), 1);
    assert_eq!(p.options.fallback, Fallback::Refuse);
    let p = parse_policy_toml("allow = []").unwrap();
    assert!(p.endpoints.is_empty());
}

#[test]
fn endpoint_errors_point_inside_the_string() {
    let toml = "audit = false\nallow = [\n  \"127.0.0.2:443\",\n  \"10.0.0.1:0\",\n]\n";
    let (line, col, msg) = error_at(toml);
    assert_eq!((line, col), (4, 13), "{msg}");
    assert!(msg.contains("port 0 is not allowed"), "{msg}");

    // Literal strings and single strings too.
    assert_eq!(error_at("allow = '10.0.0.1/8:443'").0, 1);
    assert_eq!(error_at("allow = '10.0.0.1/8:443'").1, 10);
    assert_eq!(error_at("allow = \"10.0.0.0/8:443-80\"").1, 21);
}

#[test]
fn an_escaped_string_points_at_its_start() {
    // `\u0030` is `0`: the text differs from the value, so the error marks the string.
    let (line, col, msg) = error_at("allow = \"10.0.0.1:\\u0030\"");
    assert_eq!((line, col), (1, 9), "{msg}");
}

#[test]
fn key_errors() {
    let (line, col, msg) = error_at("allow = []\ndeny = [\"10.0.0.1:80\"]\n");
    assert_eq!((line, col), (2, 1));
    assert!(msg.contains("unknown key `deny`"), "{msg}");

    let (line, col, msg) = error_at("allow = []\nfrom_build = true\n");
    assert_eq!((line, col), (2, 1));
    assert!(
        msg.contains("`from_build` belongs in the attribute"),
        "{msg}"
    );

    let (line, col, msg) = error_at("audit = true\n");
    assert_eq!((line, col), (1, 1));
    assert!(msg.contains("missing `allow`"), "{msg}");

    let (_, _, msg) = error_at("allow = []\n[policy]\nallow = []\n");
    assert!(msg.contains("unknown key `policy`"), "{msg}");
}

#[test]
fn value_errors() {
    let (line, col, msg) = error_at("allow = 443");
    assert_eq!((line, col), (1, 9));
    assert!(
        msg.contains("expected a string or a list of strings"),
        "{msg}"
    );

    let (line, col, msg) = error_at("allow = [\"10.0.0.1:80\", 80]");
    assert_eq!((line, col), (1, 25));
    assert!(msg.contains("expected a string in `allow`"), "{msg}");

    let (_, col, msg) = error_at("allow = []\naudit = \"yes\"");
    assert_eq!(col, 9);
    assert!(msg.contains("expected `true` or `false`"), "{msg}");

    let (_, col, msg) = error_at("allow = []\nfallback = \"landlock\"");
    assert_eq!(col, 12);
    assert!(
        msg.contains("`landlock` is not a valid `fallback`"),
        "{msg}"
    );

    let (_, _, msg) = error_at("allow = []\nreport = 1");
    assert!(msg.contains("expected a string for `report`"), "{msg}");
}

#[test]
fn policy_errors() {
    let (line, col, msg) = error_at("allow = [\"10.0.0.1:443\", \"10.0.0.1:443\"]");
    assert_eq!((line, col), (1, 27));
    assert!(msg.contains("duplicate endpoint"), "{msg}");

    let (line, col, msg) =
        error_at("fallback = \"landlock-ports\"\nallow = [\"udp://10.0.0.53:53\"]");
    assert_eq!((line, col), (2, 11));
    assert!(msg.contains("landlock-ports"), "{msg}");
}

#[test]
fn invalid_toml() {
    let errors = parse_policy_toml("allow = [\n").unwrap_err();
    assert!(errors[0].message.starts_with("invalid TOML"), "{errors:?}");
    let errors = parse_policy_toml("allow = []\nallow = []\n").unwrap_err();
    assert_eq!(
        Position::of("allow = []\nallow = []\n", errors[0].range.start).line,
        2
    );
}

#[test]
fn file_errors_name_the_file_line_and_column() {
    let dir = temp_dir("errors");
    let path = dir.join("network-policy.toml");
    fs::write(&path, "allow = [\n    \"exa_mple.com:443\",\n]\n").unwrap();
    let errors = compile_file_to(&path, &dir).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    let shown = errors.0[0].to_string();
    assert_eq!(
        shown,
        format!(
            "{}:2:9: `_` is not allowed in a name: letters, digits, `-` and `.` only (RFC 1123)",
            path.display()
        )
    );
    let rendered = errors.0[0].render();
    assert!(
        rendered.ends_with("2 |     \"exa_mple.com:443\",\n  |         ^"),
        "{rendered}"
    );
    assert!(!dir.join(OUTPUT_FILE).exists());

    let missing = compile_file_to(&dir.join("nope.toml"), &dir).unwrap_err();
    assert!(
        missing.to_string().contains("cannot read the policy file"),
        "{missing}"
    );
}

#[test]
fn a_good_file_writes_the_policy_to_out_dir() {
    let dir = temp_dir("good");
    let path = dir.join("network-policy.toml");
    fs::write(&path, "allow = [\"127.0.0.2:443\"]\nreport = \"off\"\n").unwrap();
    // The one test that touches the environment.
    std::env::set_var("OUT_DIR", &dir);
    let out = try_compile_file(&path).unwrap();
    assert_eq!(out, dir.join(OUTPUT_FILE));
    let source = fs::read_to_string(&out).unwrap();
    assert!(
        source.starts_with("// @generated by network-sandbox-build from "),
        "{source}"
    );
    assert!(source.contains("ReportTo::Off"), "{source}");
    assert!(source.contains("Ipv4Addr::new(127, 0, 0, 2)"), "{source}");
    syn::parse_str::<syn::Expr>(&source).expect("the file is one expression");

    // Unchanged policy: the file is not rewritten.
    let before = fs::metadata(&out).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    compile_file_to(&path, &dir).unwrap();
    assert_eq!(fs::metadata(&out).unwrap().modified().unwrap(), before);
}

#[test]
fn keep_capabilities_names_and_their_errors() {
    let p =
        parse_policy_toml("allow = []\nkeep_capabilities = [\"CAP_SYS_NICE\", \"CAP_NET_RAW\"]\n")
            .unwrap();
    assert_eq!(p.options.keep_capabilities, 1 << 23 | 1 << 13);
    let p = parse_policy_toml("allow = []\nkeep_capabilities = 'CAP_BPF'\n").unwrap();
    assert_eq!(p.options.keep_capabilities, 1 << 39);
    let p = parse_policy_toml("allow = []\nkeep_capabilities = []\n").unwrap();
    assert_eq!(p.options.keep_capabilities, 0);
    assert_eq!(
        parse_policy_toml("allow = []")
            .unwrap()
            .options
            .keep_capabilities,
        0
    );

    // An unknown name points at its string, with the name it probably means.
    let (line, col, msg) =
        error_at("allow = []\nkeep_capabilities = [\"CAP_NET_RAW\", \"cap_sys_nice\"]\n");
    assert_eq!((line, col), (2, 37));
    assert_eq!(
        msg,
        "`cap_sys_nice` is not a capability `keep_capabilities` knows: did you mean \
         `CAP_SYS_NICE`?"
    );
    let (_, col, msg) = error_at("allow = []\nkeep_capabilities = [\"CAP_EVERYTHING\"]\n");
    assert_eq!(col, 22);
    assert!(
        msg.contains("write each as keep_capabilities = [\"CAP_SYS_NICE\"]"),
        "{msg}"
    );

    // A duplicate points at the second one.
    let (line, col, msg) = error_at(
        "allow = []\nkeep_capabilities = [\n  \"CAP_SYS_NICE\",\n  \"CAP_SYS_NICE\",\n]\n",
    );
    assert_eq!((line, col), (4, 3));
    assert!(
        msg.starts_with("duplicate capability `CAP_SYS_NICE`"),
        "{msg}"
    );

    // Not strings.
    let (_, col, msg) = error_at("allow = []\nkeep_capabilities = [\"CAP_BPF\", 13]\n");
    assert_eq!(col, 33);
    assert!(
        msg.contains("expected a string in `keep_capabilities`"),
        "{msg}"
    );
    let (_, col, msg) = error_at("allow = []\nkeep_capabilities = true\n");
    assert_eq!(col, 21);
    assert!(
        msg.contains("expected a list of strings for `keep_capabilities`"),
        "{msg}"
    );

    // Unknown keys list it.
    let (_, _, msg) = error_at("allow = []\nkeep_caps = []\n");
    assert!(msg.contains("`keep_capabilities`"), "{msg}");
}

#[test]
fn system_call_profiles_and_their_errors() {
    let p = parse_policy_toml(
        r#"
allow = []
syscalls = ["@system-service", "getrandom"]
deny_syscalls = "@sync"
syscall_refusal = "ENOSYS"
"#,
    )
    .unwrap();
    assert_eq!(
        p.syscalls.allow.as_deref(),
        Some(&["@system-service".to_owned(), "getrandom".to_owned()][..])
    );
    assert_eq!(p.syscalls.deny, ["@sync"]);
    assert_eq!(
        p.options.syscall_refusal,
        network_sandbox_build::model::SyscallRefusal::Enosys
    );
    let (line, col, message) =
        error_at("allow = []\nsyscalls = [\"@system-service\", \"@sytem-service\"]\n");
    assert_eq!((line, col), (2, 32));
    assert!(
        message.ends_with("did you mean `@system-service`?"),
        "{message}"
    );
    let (line, col, message) = error_at("allow = []\ndeny_syscalls = [\"read\"]\n");
    assert_eq!((line, col), (2, 1));
    assert!(
        message.contains("take `read` out of `deny_syscalls`"),
        "{message}"
    );
    let (_, _, message) = error_at("allow = []\nsyscalls = 3\n");
    assert!(
        message.starts_with("expected a string or a list of strings for `syscalls`"),
        "{message}"
    );
    // The profile reaches the generated code.
    let dir = temp_dir("profile");
    let file = dir.join("policy.toml");
    fs::write(&file, "allow = []\ndeny_syscalls = [\"@swap\"]\n").unwrap();
    let out = compile_file_to(&file, &dir).unwrap();
    let source = fs::read_to_string(out).unwrap();
    assert!(source.contains("Policy::from_static("), "{source}");
    assert!(
        source.contains(
            "RefusedCall::new(167, \"swapon\", ::core::option::Option::Some(\"@swap\"), true)"
        ),
        "{source}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_log_key_takes_a_path_and_log_allowed_needs_it() {
    let p = parse_policy_toml("allow = []\nlog = \"/tmp/sandbox.jsonl\"\nlog_allowed = true\n")
        .unwrap();
    assert_eq!(p.log.as_deref(), Some("/tmp/sandbox.jsonl"));
    assert!(p.options.log_allowed);
    let p = parse_policy_toml("allow = []\n").unwrap();
    assert_eq!(p.log, None);
    assert!(!p.options.log_allowed);

    let (line, column, message) = error_at("allow = []\nlog = \"\"\n");
    assert_eq!((line, column), (2, 7), "{message}");
    assert!(message.contains("`log` needs a file name"), "{message}");
    let (line, column, message) = error_at("allow = []\nlog = 1\n");
    assert_eq!((line, column), (2, 7), "{message}");
    assert!(
        message.contains("expected a file name for `log`, found integer"),
        "{message}"
    );
    let (line, column, message) = error_at("allow = []\nlog_allowed = true\n");
    assert_eq!((line, column), (2, 1), "{message}");
    assert!(message.contains("`log_allowed` needs `log`"), "{message}");
}

#[test]
fn listen_entries_and_their_errors() {
    let p = parse_policy_toml("allow = []\nlisten = \"127.0.0.1:8080\"\n").unwrap();
    assert_eq!(p.listen.len(), 1);
    assert_eq!(p.listen[0].first_port, 8080);
    let p =
        parse_policy_toml("allow = []\nlisten = [\"127.0.0.1:8080\", \"[::1]:8080\"]\n").unwrap();
    assert_eq!(p.listen.len(), 2);
    let p = parse_policy_toml("allow = []\n").unwrap();
    assert!(p.listen.is_empty());
    // Errors point at the entry, line 2.
    let (line, _, message) =
        error_at("allow = []\nlisten = [\"127.0.0.1:8080\", \"localhost:80\"]\n");
    assert_eq!(line, 2);
    assert!(
        message.contains("`listen` takes an IP address"),
        "{message}"
    );
    let (_, _, message) = error_at("allow = []\nlisten = \"127.0.0.1:1-9\"\n");
    assert!(message.contains("one port, not a range"), "{message}");
    let (_, _, message) = error_at("allow = []\nlisten = 8080\n");
    assert!(message.contains("for `listen`"), "{message}");
}

#[test]
fn unix_endpoints_in_a_policy_file() {
    let p = parse_policy_toml("allow = ['unix:/run/app.sock', 'unix:@agent', '127.0.0.2:443']")
        .unwrap();
    assert_eq!(p.unix.len(), 2);
    assert_eq!(p.unix[1].to_string(), "unix:@agent");
    // The error points at the port in the string.
    let (line, col, msg) = error_at("allow = [\n  'unix:/run/app.sock:80',\n]\n");
    assert_eq!((line, col), (2, 22), "{msg}");
    assert!(msg.contains("a unix socket has no port"), "{msg}");
    // And the file compiles to code naming the sockets.
    let dir = temp_dir("unix");
    let policy = dir.join("policy.toml");
    fs::write(&policy, "allow = ['unix:/run/app.sock', 'unix:@agent']\n").unwrap();
    compile_file_to(&policy, &dir).unwrap();
    let out = fs::read_to_string(dir.join(OUTPUT_FILE)).unwrap();
    assert!(
        out.contains("UnixSocket::path_static(\"/run/app.sock\")"),
        "{out}"
    );
    assert!(out.contains("Policy::from_static("), "{out}");
    fs::remove_dir_all(&dir).unwrap();
}
