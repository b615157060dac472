//! The policy compiler on arbitrary endpoint text: parsing and validation either accept or
//! report an error whose range lies inside the text; an accepted policy compiles to programs
//! that the kernel's load-time rules accept and that stay within 4096 instructions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use network_sandbox_build::{compile, model::Options, valid::policy_from_strs, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let allow: Vec<&str> = text.split('\n').take(8).collect();
    match policy_from_strs(&allow, Options::default()) {
        Ok(policy) => {
            let compiled = compile(&policy).expect("a valid policy compiles");
            for program in compiled.programs.iter().chain(&compiled.unsupervised) {
                assert!(program.instructions.len() <= 4096);
                verify::check(&program.instructions).expect("the kernel would accept it");
            }
        }
        Err(errors) => {
            for e in errors {
                let s = allow[e.index];
                assert!(
                    e.range.start <= e.range.end && e.range.end <= s.len(),
                    "{e:?} in {s:?}"
                );
                assert!(s.is_char_boundary(e.range.start) && s.is_char_boundary(e.range.end));
            }
        }
    }
});
