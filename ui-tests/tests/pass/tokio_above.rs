use network_sandbox::network_sandbox;

#[tokio::main]
#[network_sandbox(allow = "127.0.0.2:443")]
async fn main() {
    let v = tokio::spawn(async { 1 + 1 }).await.unwrap();
    assert_eq!(v, 2);
}
