use network_sandbox::network_sandbox;

#[network_sandbox(allow = "127.0.0.2:443")]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u16 = async { "443".parse() }.await?;
    assert_eq!(n, 443);
    Ok(())
}
