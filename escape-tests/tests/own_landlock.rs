//! A program's own Landlock network rules inside the sandbox (issue 12, item 6): the
//! supervisor performs every connect the policy allows, from outside the program's Landlock
//! domain, so a program that restricts its own TCP connects with Landlock is **not** held
//! by that restriction for connects the sandbox allows. The sandbox's policy still holds;
//! docs/THREAT-MODEL.md and the README's limits say so. This test shows the behaviour the
//! docs describe, so that they stay true.

use network_sandbox_escape_tests::*;

#[test]
fn the_programs_own_landlock_connect_rules_do_not_hold_inside() {
    for user in USERS {
        // Control: without the sandbox, the program's own rule (no TCP connect at all)
        // refuses the connect, and the server sees nothing.
        let target = Recorder::start("127.0.0.2:0".parse().unwrap()).expect("recorder");
        let control = Probe::unsandboxed()
            .user(user)
            .run("own-landlock-connect", &[&target.arg()]);
        target.settle();
        assert!(control.err("EACCES"), "control as {user:?}: {control:?}");
        assert_eq!(target.connections(), 0, "control as {user:?}");

        // Inside a sandbox that allows the server: the supervisor connects for the
        // program, outside its domain, and the program's rule does not apply.
        let o = Probe::sandboxed(&[target.arg()])
            .user(user)
            .run("own-landlock-connect", &[&target.arg()]);
        assert!(o.ok(), "inside as {user:?}: {o:?}");
        assert!(
            eventually(std::time::Duration::from_secs(15), || target.connections()
                == 1),
            "the allowed server was reached, as {user:?}"
        );

        // The sandbox's own policy still holds: another address stays refused.
        let other = Recorder::start("127.0.0.3:0".parse().unwrap()).expect("recorder");
        let o = Probe::sandboxed(&[target.arg()])
            .user(user)
            .run("own-landlock-connect", &[&other.arg()]);
        o.assert_refused_by_supervisor("EACCES", "connect", &other.arg());
        other.settle();
        assert_eq!(other.connections(), 0);
    }
}
