//! The Linux capabilities a policy can name in `keep_capabilities` ([`model::KEEP_CAPABILITIES`]).
//!
//! A capability is written as the kernel and `capabilities(7)` name it, `CAP_SYS_NICE`, and
//! in no other spelling: one name per capability, so that a policy reads the same in every
//! front end and a duplicate is always seen. A near miss (`cap_sys_nice`, `SYS_NICE`,
//! `CAP_SYS_NIC`) is an error that suggests the name ([`model::OptionSpec::suggest`]).
//!
//! The runtime crate (`network-sandbox`) keeps its own copy of this table, because this crate
//! cannot depend on it (it depends on this one, for its `compiler` feature); a test there
//! checks that the two agree name for name.
//!
//! [`model::KEEP_CAPABILITIES`]: crate::model::KEEP_CAPABILITIES
//! [`model::OptionSpec::suggest`]: crate::model::OptionSpec::suggest

use crate::model::OptionValue;

/// Declares [`NAMES`] and the option values of `keep_capabilities`, one per capability, from
/// one list: the number is the capability's (`linux/capability.h`), which is also its bit in
/// `Options::keep_capabilities`.
macro_rules! capabilities {
    ($($number:literal $name:literal $description:literal,)*) => {
        /// The capabilities Linux 6.18 defines, by number: `NAMES[n]` is capability `n`.
        pub const NAMES: [&str; 41] = [$($name),*];

        /// The values of `keep_capabilities`: each keeps its capability (sets its bit).
        pub(crate) const VALUES: &[OptionValue] = &[$(
            OptionValue {
                name: $name,
                description: $description,
                set: |o| o.keep_capabilities |= 1 << $number,
            },
        )*];
    };
}

capabilities! {
    0 "CAP_CHOWN" "change the owner and group of files",
    1 "CAP_DAC_OVERRIDE" "bypass file read, write and execute permission checks",
    2 "CAP_DAC_READ_SEARCH" "bypass read and search permission checks; open_by_handle_at",
    3 "CAP_FOWNER" "bypass checks that require owning the file",
    4 "CAP_FSETID" "keep set-user-ID and set-group-ID bits when a file is modified",
    5 "CAP_KILL" "send signals to any process",
    6 "CAP_SETGID" "change group IDs",
    7 "CAP_SETUID" "change user IDs",
    8 "CAP_SETPCAP" "change capability sets and securebits",
    9 "CAP_LINUX_IMMUTABLE" "set the immutable and append-only file attributes",
    10 "CAP_NET_BIND_SERVICE" "bind ports below 1024",
    11 "CAP_NET_BROADCAST" "broadcast and listen to multicast (unused)",
    12 "CAP_NET_ADMIN" "configure interfaces, routes, netfilter and socket marks",
    13 "CAP_NET_RAW" "raw and packet sockets; bind to any address",
    14 "CAP_IPC_LOCK" "lock memory",
    15 "CAP_IPC_OWNER" "bypass permission checks on System V IPC objects",
    16 "CAP_SYS_MODULE" "load and unload kernel modules",
    17 "CAP_SYS_RAWIO" "raw I/O ports and device memory",
    18 "CAP_SYS_CHROOT" "chroot",
    19 "CAP_SYS_PTRACE" "trace and read the memory of any process",
    20 "CAP_SYS_PACCT" "process accounting",
    21 "CAP_SYS_ADMIN" "mounts, namespaces and most other administration",
    22 "CAP_SYS_BOOT" "reboot and kexec",
    23 "CAP_SYS_NICE" "raise priorities and set the scheduling of any process",
    24 "CAP_SYS_RESOURCE" "exceed resource limits",
    25 "CAP_SYS_TIME" "set the system clock",
    26 "CAP_SYS_TTY_CONFIG" "vhangup and other terminal configuration",
    27 "CAP_MKNOD" "create device nodes",
    28 "CAP_LEASE" "take leases on any file",
    29 "CAP_AUDIT_WRITE" "write records to the audit log",
    30 "CAP_AUDIT_CONTROL" "configure auditing",
    31 "CAP_SETFCAP" "set file capabilities",
    32 "CAP_MAC_OVERRIDE" "override mandatory access control",
    33 "CAP_MAC_ADMIN" "configure mandatory access control",
    34 "CAP_SYSLOG" "privileged syslog operations",
    35 "CAP_WAKE_ALARM" "set alarms that wake the system",
    36 "CAP_BLOCK_SUSPEND" "block system suspend",
    37 "CAP_AUDIT_READ" "read the audit log through multicast netlink",
    38 "CAP_PERFMON" "performance monitoring",
    39 "CAP_BPF" "privileged BPF operations",
    40 "CAP_CHECKPOINT_RESTORE" "checkpoint and restore operations",
}

/// The number of capability `name` (written as the kernel names it).
pub fn number(name: &str) -> Option<u32> {
    NAMES.iter().position(|n| *n == name).map(|n| n as u32)
}

/// The names of the capabilities whose bits are set in `mask`, by number (`cap_41` for a
/// bit past the table).
pub fn names_in(mask: u64) -> Vec<String> {
    (0..64u32)
        .filter(|&c| mask & (1 << c) != 0)
        .map(|c| {
            NAMES
                .get(c as usize)
                .map_or_else(|| format!("cap_{c}"), |n| (*n).to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Options;

    #[test]
    fn each_value_sets_the_bit_of_its_number() {
        assert_eq!(VALUES.len(), NAMES.len());
        for (n, v) in VALUES.iter().enumerate() {
            assert_eq!(v.name, NAMES[n]);
            let mut o = Options::default();
            (v.set)(&mut o);
            assert_eq!(o.keep_capabilities, 1 << n, "{}", v.name);
            assert_eq!(number(v.name), Some(n as u32));
        }
        assert_eq!(number("CAP_NET_RAW"), Some(13));
        assert_eq!(number("cap_net_raw"), None);
        assert_eq!(
            names_in(1 << 23 | 1 << 19 | 1 << 50),
            ["CAP_SYS_PTRACE", "CAP_SYS_NICE", "cap_50"]
        );
    }
}
