//! Server reflection lets a generic client, built without breakeven's proto
//! files, discover every service and call it.

mod common;

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic_reflection::pb::{v1, v1alpha};

const EXPECTED_SERVICES: [&str; 7] = [
    "breakeven.v1.CatalogService",
    "breakeven.v1.EstimatorService",
    "breakeven.v1.ScenarioService",
    "breakeven.v1.SimulationService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// One request on the v1 reflection stream.
async fn ask_v1(
    channel: Channel,
    request: v1::server_reflection_request::MessageRequest,
) -> v1::server_reflection_response::MessageResponse {
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection call")
        .into_inner();
    responses
        .message()
        .await
        .expect("reflection response")
        .expect("one response")
        .message_response
        .expect("a message response")
}

#[tokio::test]
async fn reflection_v1_lists_every_service() {
    let server = common::TestServer::start().await;
    let response = ask_v1(
        server.channel().await,
        v1::server_reflection_request::MessageRequest::ListServices(String::new()),
    )
    .await;
    let v1::server_reflection_response::MessageResponse::ListServicesResponse(list) = response
    else {
        panic!("unexpected response {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in EXPECTED_SERVICES {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn reflection_v1alpha_lists_every_service() {
    let server = common::TestServer::start().await;
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses
        .message()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap();
    let v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list) = response
    else {
        panic!("unexpected response {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in EXPECTED_SERVICES {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

/// A codec for messages known only from descriptors fetched at run time.
#[derive(Clone)]
struct DynamicCodec(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicCodec;
    type Decoder = DynamicCodec;
    fn encoder(&mut self) -> Self::Encoder {
        self.clone()
    }
    fn decoder(&mut self) -> Self::Decoder {
        self.clone()
    }
}

impl Encoder for DynamicCodec {
    type Item = DynamicMessage;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: DynamicMessage,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Decoder for DynamicCodec {
    type Item = DynamicMessage;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

#[tokio::test]
async fn a_generic_client_discovers_and_calls_list_gpus() {
    let server = common::TestServer::start().await;
    let channel = server.channel().await;

    // Fetch the descriptors of the service and everything it depends on.
    let response = ask_v1(
        channel.clone(),
        v1::server_reflection_request::MessageRequest::FileContainingSymbol(
            "breakeven.v1.CatalogService".to_string(),
        ),
    )
    .await;
    let v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files) = response
    else {
        panic!("unexpected response {response:?}");
    };
    let files = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap());
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files)
        .expect("descriptors are complete");

    let service = pool
        .get_service_by_name("breakeven.v1.CatalogService")
        .expect("service");
    let method = service
        .methods()
        .find(|m| m.name() == "ListGpus")
        .expect("ListGpus");
    let mut request = DynamicMessage::new(method.input());
    request.set_field_by_name("page_size", Value::I32(100));

    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = format!("/{}/{}", service.full_name(), method.name())
        .parse()
        .unwrap();
    let reply = grpc
        .unary(
            tonic::Request::new(request),
            path,
            DynamicCodec(method.output()),
        )
        .await
        .expect("ListGpus through reflection")
        .into_inner();

    let gpus = reply.get_field_by_name("gpus").expect("gpus field");
    let gpus = gpus.as_list().expect("a list");
    assert!(gpus.len() >= 12, "only {} GPUs", gpus.len());
    let ids: Vec<String> = gpus
        .iter()
        .map(|g| {
            g.as_message()
                .unwrap()
                .get_field_by_name("id")
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(ids.contains(&"h100-sxm".to_string()), "{ids:?}");
}
