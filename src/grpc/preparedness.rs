//! Conversions of unused capacity into preparedness services (Art. 14(2)).

use tonic::{Request, Response, Status};

use super::convert::{Wire, choice, conversion_fields, timestamp};
use super::{caller, pb};
use crate::app::{App, PageRequest, preparedness};
use crate::domain::actor::Operation;
use crate::domain::command::preparedness::{
    CompleteConversion, CompleteConversionFields, DeclineConversion, DeclineConversionFields,
    ProposeConversion,
};
use crate::domain::names::{self, ConversionId, OrganisationId, ProviderId};
use crate::domain::preparedness::Conversion;
use crate::domain::validation::{Choice, Violations};
use crate::store::preparedness::ConversionFilter;

pub struct PreparednessService {
    pub app: App,
}

pub fn conversion_to_proto(c: &Conversion) -> pb::Conversion {
    pb::Conversion {
        name: names::conversion(&c.id),
        capacity_commitment: names::capacity_commitment(&c.provider, c.commitment_id),
        organisation: names::organisation(&c.organisation),
        preparedness_service: c.preparedness_service.to_wire(),
        person_days: c.person_days,
        description: c.description.clone(),
        state: c.state.to_wire(),
        provider: names::provider(&c.provider),
        service: c.service.to_wire(),
        proposed_by: c.proposed_by.clone(),
        decline_note: c.decline_note.clone().unwrap_or_default(),
        delivery_note: c.delivery_note.clone().unwrap_or_default(),
        create_time: Some(timestamp(c.created_at)),
        update_time: Some(timestamp(c.updated_at)),
        deliver_time: c.delivered_at.map(timestamp),
    }
}

fn answer(c: Conversion) -> Result<Response<pb::Conversion>, Status> {
    Ok(Response::new(conversion_to_proto(&c)))
}

#[tonic::async_trait]
impl pb::preparedness_service_server::PreparednessService for PreparednessService {
    async fn propose_conversion(
        &self,
        request: Request<pb::ProposeConversionRequest>,
    ) -> Result<Response<pb::Conversion>, Status> {
        let actor = caller(&request, Operation::ConvertCapacity)?;
        let c = request.into_inner().conversion.unwrap_or_default();
        let command = ProposeConversion::parse(&conversion_fields(&c))?;
        answer(preparedness::propose(&self.app, &actor, command).await?)
    }

    async fn accept_conversion(
        &self,
        request: Request<pb::AcceptConversionRequest>,
    ) -> Result<Response<pb::Conversion>, Status> {
        let actor = caller(&request, Operation::DeliverConversion)?;
        let id = ConversionId::from_name("name", &request.get_ref().name)?;
        answer(preparedness::accept(&self.app, &actor, &id).await?)
    }

    async fn decline_conversion(
        &self,
        request: Request<pb::DeclineConversionRequest>,
    ) -> Result<Response<pb::Conversion>, Status> {
        let actor = caller(&request, Operation::DeliverConversion)?;
        let body = request.into_inner();
        let command = DeclineConversion::parse(&DeclineConversionFields {
            name: body.name,
            note: body.note,
        })?;
        answer(preparedness::decline(&self.app, &actor, command).await?)
    }

    async fn withdraw_conversion(
        &self,
        request: Request<pb::WithdrawConversionRequest>,
    ) -> Result<Response<pb::Conversion>, Status> {
        let actor = caller(&request, Operation::ConvertCapacity)?;
        let id = ConversionId::from_name("name", &request.get_ref().name)?;
        answer(preparedness::withdraw(&self.app, &actor, &id).await?)
    }

    async fn complete_conversion(
        &self,
        request: Request<pb::CompleteConversionRequest>,
    ) -> Result<Response<pb::Conversion>, Status> {
        let actor = caller(&request, Operation::DeliverConversion)?;
        let body = request.into_inner();
        let command = CompleteConversion::parse(&CompleteConversionFields {
            name: body.name,
            delivery_note: body.delivery_note,
        })?;
        answer(preparedness::complete(&self.app, &actor, command).await?)
    }

    async fn get_conversion(
        &self,
        request: Request<pb::GetConversionRequest>,
    ) -> Result<Response<pb::Conversion>, Status> {
        let actor = caller(&request, Operation::ReadConversions)?;
        let id = ConversionId::from_name("name", &request.get_ref().name)?;
        answer(preparedness::get(&self.app, &actor, &id).await?)
    }

    async fn list_conversions(
        &self,
        request: Request<pb::ListConversionsRequest>,
    ) -> Result<Response<pb::ListConversionsResponse>, Status> {
        let actor = caller(&request, Operation::ReadConversions)?;
        let body = request.get_ref();
        let mut v = Violations::new();
        let provider = (!body.provider.is_empty())
            .then(|| ProviderId::parse_name(&mut v, "provider", &body.provider))
            .flatten();
        let organisation = (!body.organisation.is_empty())
            .then(|| OrganisationId::parse_name(&mut v, "organisation", &body.organisation))
            .flatten();
        let state = match choice(body.state) {
            Choice::Unset => None,
            known => v.choice("state", &known),
        };
        let page = PageRequest::parse(body.page_size, &body.page_token);
        let page = match page {
            Ok(page) => Some(page),
            Err(e) => {
                v.extend(e);
                None
            }
        };
        v.finish(())?;
        let filter = ConversionFilter {
            provider: provider.as_deref(),
            organisation: organisation.as_deref(),
            state,
            commitment: None,
        };
        let page = preparedness::list(&self.app, &actor, filter, page.expect("checked")).await?;
        Ok(Response::new(pb::ListConversionsResponse {
            conversions: page.items.iter().map(conversion_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}
