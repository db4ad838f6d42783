use tokio_stream::StreamExt;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_answers_serving_without_a_token() {
    let app = spawn_app().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    for service in ["", "reserve.v1.SupportRequestService"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health answers")
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_services_in_v1_and_v1alpha() {
    let expected = [
        "reserve.v1.AuditService",
        "reserve.v1.DispatchService",
        "reserve.v1.ProviderService",
        "reserve.v1.RegistryService",
        "reserve.v1.SupportRequestService",
    ];
    let app = spawn_app().await;

    use tonic_reflection::pb::v1 as r1;
    let mut v1 = r1::server_reflection_client::ServerReflectionClient::new(app.channel().await);
    let request = r1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = v1
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1 reflection")
        .into_inner();
    let answer = stream.next().await.unwrap().unwrap();
    let Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("unexpected answer {answer:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for service in expected {
        assert!(
            names.iter().any(|n| n == service),
            "v1 lacks {service}: {names:?}"
        );
    }

    use tonic_reflection::pb::v1alpha as ra;
    let mut v1alpha =
        ra::server_reflection_client::ServerReflectionClient::new(app.channel().await);
    let request = ra::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(ra::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = v1alpha
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha reflection")
        .into_inner();
    let answer = stream.next().await.unwrap().unwrap();
    let Some(ra::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("unexpected answer {answer:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for service in expected {
        assert!(
            names.iter().any(|n| n == service),
            "v1alpha lacks {service}: {names:?}"
        );
    }
    app.stop().await;
}

/// The files reflection serves for `symbol`, and every file they import,
/// each asked for by name as grpcurl does.
async fn reflected_files(
    app: &crate::helpers::TestApp,
    symbol: &str,
) -> Vec<prost_types::FileDescriptorProto> {
    use prost::Message;
    use tonic_reflection::pb::v1 as r1;
    let client = r1::server_reflection_client::ServerReflectionClient::new(app.channel().await);
    let ask = |request: r1::server_reflection_request::MessageRequest| {
        let mut client = client.clone();
        async move {
            let asked = format!("{request:?}");
            let mut stream = client
                .server_reflection_info(tokio_stream::iter([r1::ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(request),
                }]))
                .await
                .expect("reflection answers")
                .into_inner();
            let answer = stream.next().await.unwrap().unwrap();
            match answer.message_response {
                Some(r1::server_reflection_response::MessageResponse::FileDescriptorResponse(
                    files,
                )) => files
                    .file_descriptor_proto
                    .iter()
                    .map(|bytes| prost_types::FileDescriptorProto::decode(&bytes[..]).unwrap())
                    .collect::<Vec<_>>(),
                other => panic!("no descriptor for {asked}: {other:?}"),
            }
        }
    };
    let mut files =
        ask(r1::server_reflection_request::MessageRequest::FileContainingSymbol(symbol.into()))
            .await;
    let mut i = 0;
    while i < files.len() {
        for dependency in files[i].dependency.clone() {
            if !files.iter().any(|f| f.name() == dependency) {
                files.extend(
                    ask(r1::server_reflection_request::MessageRequest::FileByFilename(dependency))
                        .await,
                );
            }
        }
        i += 1;
    }
    files
}

#[tokio::test]
async fn reflection_describes_the_google_rpc_error_details_so_tools_can_decode_them() {
    let app = spawn_app().await;
    let mut files = reflected_files(&app, "google.rpc.BadRequest").await;
    for symbol in [
        "google.rpc.RetryInfo",
        "google.rpc.Status",
        "reserve.v1.SupportRequestService",
    ] {
        for file in reflected_files(&app, symbol).await {
            if !files.iter().any(|f| f.name() == file.name()) {
                files.push(file);
            }
        }
    }
    let pool =
        prost_reflect::DescriptorPool::from_file_descriptor_set(prost_types::FileDescriptorSet {
            file: files,
        })
        .expect("the reflected files, with every import, make a whole pool");
    for name in [
        "google.rpc.BadRequest",
        "google.rpc.RetryInfo",
        "google.rpc.ErrorInfo",
        "google.rpc.Status",
    ] {
        assert!(
            pool.get_message_by_name(name).is_some(),
            "{name} is described"
        );
    }

    // A refusal's details decode with those descriptors alone, as grpcurl
    // decodes them: a google.rpc.Status whose details hold a BadRequest.
    let mut body = crate::helpers::moldova_request();
    body.title = String::new();
    let status = app
        .requests()
        .await
        .create_support_request(crate::helpers::authed(
            crate::helpers::create(body, "reflected"),
            &app.token("requester", "md-spoc"),
        ))
        .await
        .unwrap_err();
    let rpc_status = prost_reflect::DynamicMessage::decode(
        pool.get_message_by_name("google.rpc.Status").unwrap(),
        status.details(),
    )
    .expect("the details are a google.rpc.Status");
    let details = rpc_status.get_field_by_name("details").unwrap();
    let any = details.as_list().unwrap()[0].as_message().unwrap().clone();
    let type_url = any.get_field_by_name("type_url").unwrap();
    let type_name = type_url
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(type_name, "google.rpc.BadRequest");
    let value = any.get_field_by_name("value").unwrap();
    let bad_request = prost_reflect::DynamicMessage::decode(
        pool.get_message_by_name(&type_name).unwrap(),
        value.as_bytes().unwrap().clone(),
    )
    .unwrap();
    let violations = bad_request.get_field_by_name("field_violations").unwrap();
    let first = violations.as_list().unwrap()[0]
        .as_message()
        .unwrap()
        .clone();
    assert_eq!(
        first.get_field_by_name("field").unwrap().as_str(),
        Some("support_request.title")
    );
    app.stop().await;
}
