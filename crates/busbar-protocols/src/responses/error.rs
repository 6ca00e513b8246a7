use busbar_ir::{ApiError, ErrorKind};
pub fn decode(status: u16, body: &[u8]) -> ApiError {
    ApiError::new(
        ErrorKind::from_status(status),
        String::from_utf8_lossy(body),
    )
    .with_status(status)
}
pub fn encode(error: &ApiError) -> (u16, Vec<u8>) {
    (error.status, error.message.clone().into_bytes())
}
