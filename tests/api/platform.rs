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
