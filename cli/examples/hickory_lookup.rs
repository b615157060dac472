//! Looks each name given up with hickory-resolver, configured from the system's
//! `resolv.conf` (hickory asks DNS itself: it does not read `/etc/hosts` for names it is
//! not told to), and prints `NAME: ADDRESSES` or `NAME: failed: ERROR`. For
//! `tests/dns_answerer.rs`.

use hickory_resolver::Resolver;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let builder = match Resolver::builder_tokio() {
        Ok(b) => b,
        Err(e) => {
            println!("configuration failed: {e}");
            std::process::exit(2);
        }
    };
    let mut builder = builder;
    // Names only from DNS, so that the test sees what the answerer says.
    builder.options_mut().use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
    let resolver = builder.build();
    let mut failed = false;
    for name in names {
        let start = std::time::Instant::now();
        match resolver.lookup_ip(name.as_str()).await {
            Ok(ips) => {
                let ips: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
                println!("{name}: {}", ips.join(","));
            }
            Err(e) => {
                failed = true;
                println!(
                    "{name}: failed after {} ms: {e}",
                    start.elapsed().as_millis()
                );
            }
        }
    }
    std::process::exit(i32::from(failed));
}
