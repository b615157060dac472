use network_sandbox::network_sandbox;

use std::error::Error;

#[network_sandbox(allow = "127.0.0.2:443")]
fn main() -> Result<(), Box<dyn Error>> {
    let n: u16 = "443".parse()?;
    assert_eq!(n, 443);
    Ok(())
}
