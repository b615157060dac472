//! The emitted code: a block expression naming `::network_sandbox::__private`, the same text
//! for the same policy.

use network_sandbox_build::emit::{policy_expr, policy_source};
use network_sandbox_build::model::{DenyErrno, Fallback, Mode, Options, ReportTo};
use network_sandbox_build::valid::policy_from_strs;
use network_sandbox_build::{Arch, Compiled, Instruction, Program};

/// A compiled policy with small made-up programs (the emitter does not look inside them).
fn compiled(allow: &[&str], options: Options) -> Compiled {
    let policy = policy_from_strs(allow, options).unwrap();
    let programs = Arch::ALL
        .iter()
        .map(|&arch| Program {
            arch,
            instructions: vec![
                Instruction {
                    code: 0x20,
                    jt: 0,
                    jf: 0,
                    k: 4,
                },
                Instruction {
                    code: 0x15,
                    jt: 1,
                    jf: 0,
                    k: 0xc000_003e,
                },
                Instruction {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0x7fff_0000,
                },
                Instruction {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0x8000_0000,
                },
            ],
        })
        .collect();
    Compiled {
        policy,
        programs,
        unsupervised: Vec::new(),
    }
}

#[test]
fn tokens_parse_as_a_block_expression() {
    let c = compiled(
        &[
            "127.0.0.2:443",
            "udp://[2001:db8::/32]:53-54",
            "10.0.0.0/8:8000-8080",
            "api.example.com:443",
            "udp://a.test=127.0.0.2,[::1]:53",
        ],
        Options::default(),
    );
    let source = policy_source(&c);
    assert!(source.contains("\"api.example.com\""), "{source}");
    assert!(
        source.contains("::network_sandbox::__private::IpAddr::V6(::network_sandbox::__private::Ipv6Addr::new(0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x1))"),
        "{source}"
    );
    let expr: syn::Expr = syn::parse2(policy_expr(&c)).expect("an expression");
    let syn::Expr::Block(block) = expr else {
        panic!("not a block expression")
    };
    // Three FILTER consts (two arches and the compile_error), ENDPOINTS, NAMES, POLICY,
    // `&POLICY`.
    assert_eq!(block.block.stmts.len(), 7);
    let last = block.block.stmts.last().unwrap();
    assert_eq!(quote::quote!(#last).to_string(), "& POLICY");
}

#[test]
fn source_is_deterministic_and_uses_absolute_paths() {
    let a = policy_source(&compiled(&["127.0.0.2:443"], Options::default()));
    let b = policy_source(&compiled(&["127.0.0.2:443"], Options::default()));
    assert_eq!(a, b);
    for line in a.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("__private") {
            assert_eq!(
                &line[i - 19..i],
                "::network_sandbox::",
                "relative path in {line:?}"
            );
        }
    }
    // The token form is the same code.
    let from_source: proc_macro2::TokenStream = a.parse().unwrap();
    assert_eq!(
        from_source.to_string(),
        policy_expr(&compiled(&["127.0.0.2:443"], Options::default())).to_string()
    );
}

#[test]
fn source_has_each_arch_a_fallback_error_and_the_data() {
    let s = policy_source(&compiled(
        &["127.0.0.2:443", "udp://[2001:db8::/32]:53-54"],
        Options {
            mode: Mode::Audit,
            fallback: Fallback::DenyAll,
            report: ReportTo::Off,
            deny_errno: DenyErrno::Econnrefused,
            keep_capabilities: 1 << 23 | 1 << 19,
            ..Options::default()
        },
    ));
    assert!(s.contains("DenyErrno::Econnrefused"), "{s}");
    assert!(s.contains("#[cfg(target_arch = \"x86_64\")]"), "{s}");
    assert!(s.contains("#[cfg(target_arch = \"aarch64\")]"), "{s}");
    assert!(
        s.contains("#[cfg(not(any(target_arch = \"x86_64\", target_arch = \"aarch64\")))]"),
        "{s}"
    );
    assert!(s.contains("::core::compile_error!("), "{s}");
    assert!(
        s.contains("::network_sandbox::__private::SockFilter::new(0x15, 1, 0, 0xc000003e)"),
        "{s}"
    );
    assert!(s.contains("::network_sandbox::__private::IpNetwork::v4(::network_sandbox::__private::Ipv4Addr::new(127, 0, 0, 2), 32)"), "{s}");
    assert!(s.contains("::network_sandbox::__private::IpNetwork::v6(::network_sandbox::__private::Ipv6Addr::new(0x2001, 0xdb8, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0), 32)"), "{s}");
    assert!(
        s.contains("::network_sandbox::__private::PortRange::new(53, 54)"),
        "{s}"
    );
    assert!(
        s.contains("protocol: ::network_sandbox::__private::Protocol::Udp"),
        "{s}"
    );
    assert!(
        s.contains("mode: ::network_sandbox::__private::Mode::Audit"),
        "{s}"
    );
    assert!(
        s.contains("fallback: ::network_sandbox::__private::Fallback::DenyAll"),
        "{s}"
    );
    assert!(
        s.contains("report: ::network_sandbox::__private::ReportTo::Off"),
        "{s}"
    );
    assert!(
        s.contains("keep_capabilities: 0x880000, // CAP_SYS_PTRACE, CAP_SYS_NICE\n"),
        "{s}"
    );
    assert!(s.contains("// udp://[2001:db8::/32]:53-54"), "{s}");
    assert!(s.trim_end().ends_with("&POLICY\n}"), "{s}");
}

#[test]
fn no_endpoints_is_an_empty_table() {
    let s = policy_source(&compiled(&[], Options::default()));
    assert!(s.contains("keep_capabilities: 0x0,\n"), "{s}");
    assert!(
        s.contains("const ENDPOINTS: &[::network_sandbox::__private::Endpoint] = &[\n    ];"),
        "{s}"
    );
    syn::parse_str::<syn::Expr>(&s).unwrap();
}

/// A policy without endpoints carries, per architecture, the program the compiler made for
/// running without a supervisor, and passes it to `from_static`; a policy with endpoints
/// has no such table and passes `None`.
#[test]
fn a_policy_without_endpoints_carries_its_program_for_running_without_a_supervisor() {
    let real = |allow: &[&str]| {
        let policy = policy_from_strs(allow, Options::default()).unwrap();
        network_sandbox_build::compile(&policy).unwrap()
    };
    let none = real(&[]);
    assert_eq!(none.unsupervised.len(), Arch::ALL.len());
    let s = policy_source(&none);
    for arch in Arch::ALL {
        let len = none.unsupervised(arch).unwrap().instructions.len();
        assert!(
            s.contains(&format!(
                "    // {arch}, where no supervisor can run: {len} instructions\n    #[cfg(target_arch = \"{}\")]\n    const UNSUPERVISED: &[::network_sandbox::__private::SockFilter] = &[\n",
                arch.target_arch()
            )),
            "{s}"
        );
    }
    assert_eq!(
        s.matches("const UNSUPERVISED").count(),
        Arch::ALL.len() + 1,
        "{s}"
    );
    assert!(
        s.contains("        ::core::option::Option::Some(UNSUPERVISED),\n    );"),
        "{s}"
    );
    syn::parse_str::<syn::Expr>(&s).unwrap();

    let with = policy_source(&real(&["127.0.0.2:443"]));
    assert!(!with.contains("UNSUPERVISED"), "{with}");
    assert!(
        with.contains(
            "        ::core::option::Option::None,\n        ::core::option::Option::None,\n    );"
        ),
        "log and unsupervised: {with}"
    );
}
