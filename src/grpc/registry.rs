use tonic::{Request, Response, Status};

use super::convert::{
    Wire, commitment_fields, commitment_to_proto, country_fields, country_to_proto, date, day,
    mask, organisation_fields, organisation_to_proto, provider_fields, provider_to_proto,
};
use super::{caller, pb};
use crate::app::{App, PageRequest, capacity, registry, registry_import};
use crate::domain::actor::Operation;
use crate::domain::command::UpdateFields;
use crate::domain::dispatch::CapacityCommitment;
use crate::domain::names::{self, CommitmentId, CountryCode, OrganisationId, ProviderId};
use crate::domain::query::ended_by;
use crate::domain::registry::{Country, Organisation, Provider};

pub struct RegistryService {
    pub app: App,
}

#[tonic::async_trait]
impl pb::registry_service_server::RegistryService for RegistryService {
    async fn create_country(
        &self,
        request: Request<pb::CreateCountryRequest>,
    ) -> Result<Response<pb::Country>, Status> {
        let actor = caller(&request, Operation::WriteRegistry)?;
        let country = Country::parse(
            request
                .get_ref()
                .country
                .as_ref()
                .map(country_fields)
                .as_ref(),
        )?;
        let created = registry::create_country(&self.app, &actor, country).await?;
        Ok(Response::new(country_to_proto(&created)))
    }

    async fn update_country(
        &self,
        request: Request<pb::UpdateCountryRequest>,
    ) -> Result<Response<pb::Country>, Status> {
        let actor = caller(&request, Operation::WriteRegistry)?;
        let body = request.into_inner();
        let fields = UpdateFields {
            record: body.country.as_ref().map(country_fields),
            update_mask: mask(body.update_mask),
        };
        let code = Country::update_target(&fields)?;
        let updated = registry::update_country(&self.app, &actor, &code, |current| {
            Country::parse_update(&fields, current)
        })
        .await?;
        Ok(Response::new(country_to_proto(&updated)))
    }

    async fn get_country(
        &self,
        request: Request<pb::GetCountryRequest>,
    ) -> Result<Response<pb::Country>, Status> {
        let actor = caller(&request, Operation::ReadRegistry)?;
        let code = CountryCode::from_name("name", &request.get_ref().name)?;
        let found = registry::get_country(&self.app, &actor, &code).await?;
        Ok(Response::new(country_to_proto(&found)))
    }

    async fn list_countries(
        &self,
        request: Request<pb::ListCountriesRequest>,
    ) -> Result<Response<pb::ListCountriesResponse>, Status> {
        let actor = caller(&request, Operation::ReadRegistry)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let page = registry::list_countries(&self.app, &actor, page).await?;
        Ok(Response::new(pb::ListCountriesResponse {
            countries: page.items.iter().map(country_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_organisation(
        &self,
        request: Request<pb::CreateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let actor = caller(&request, Operation::WriteRegistry)?;
        let fields = request
            .get_ref()
            .organisation
            .as_ref()
            .map(organisation_fields);
        let registered = self.app.registry_now().await?;
        let organisation = Organisation::parse(fields.as_ref(), registered.as_ref())?;
        let created = registry::create_organisation(&self.app, &actor, organisation).await?;
        Ok(Response::new(organisation_to_proto(&created)))
    }

    async fn update_organisation(
        &self,
        request: Request<pb::UpdateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let actor = caller(&request, Operation::WriteRegistry)?;
        let body = request.into_inner();
        let fields = UpdateFields {
            record: body.organisation.as_ref().map(organisation_fields),
            update_mask: mask(body.update_mask),
        };
        let id: OrganisationId = Organisation::update_target(&fields)?;
        let registered = self.app.registry_now().await?;
        let updated = registry::update_organisation(&self.app, &actor, &id, |current| {
            Organisation::parse_update(&fields, current, registered.as_ref())
        })
        .await?;
        Ok(Response::new(organisation_to_proto(&updated)))
    }

    async fn get_organisation(
        &self,
        request: Request<pb::GetOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let actor = caller(&request, Operation::ReadRegistry)?;
        let id = OrganisationId::from_name("name", &request.get_ref().name)?;
        let found = registry::get_organisation(&self.app, &actor, &id).await?;
        Ok(Response::new(organisation_to_proto(&found)))
    }

    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        let actor = caller(&request, Operation::ReadRegistry)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let page = registry::list_organisations(&self.app, &actor, page).await?;
        Ok(Response::new(pb::ListOrganisationsResponse {
            organisations: page.items.iter().map(organisation_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_provider(
        &self,
        request: Request<pb::CreateProviderRequest>,
    ) -> Result<Response<pb::Provider>, Status> {
        let actor = caller(&request, Operation::WriteRegistry)?;
        let fields = request.get_ref().provider.as_ref().map(provider_fields);
        let provider = Provider::parse(fields.as_ref())?;
        let created = registry::create_provider(&self.app, &actor, provider).await?;
        Ok(Response::new(provider_to_proto(&created)))
    }

    async fn update_provider(
        &self,
        request: Request<pb::UpdateProviderRequest>,
    ) -> Result<Response<pb::Provider>, Status> {
        let actor = caller(&request, Operation::WriteRegistry)?;
        let body = request.into_inner();
        let fields = UpdateFields {
            record: body.provider.as_ref().map(provider_fields),
            update_mask: mask(body.update_mask),
        };
        let id: ProviderId = Provider::update_target(&fields)?;
        let updated = registry::update_provider(&self.app, &actor, &id, |current| {
            Provider::parse_update(&fields, current)
        })
        .await?;
        Ok(Response::new(provider_to_proto(&updated)))
    }

    async fn get_provider(
        &self,
        request: Request<pb::GetProviderRequest>,
    ) -> Result<Response<pb::Provider>, Status> {
        let actor = caller(&request, Operation::ReadRegistry)?;
        let id = ProviderId::from_name("name", &request.get_ref().name)?;
        let found = registry::get_provider(&self.app, &actor, &id).await?;
        Ok(Response::new(provider_to_proto(&found)))
    }

    async fn list_providers(
        &self,
        request: Request<pb::ListProvidersRequest>,
    ) -> Result<Response<pb::ListProvidersResponse>, Status> {
        let actor = caller(&request, Operation::ReadRegistry)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let page = registry::list_providers(&self.app, &actor, page).await?;
        Ok(Response::new(pb::ListProvidersResponse {
            providers: page.items.iter().map(provider_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_capacity_commitment(
        &self,
        request: Request<pb::CreateCapacityCommitmentRequest>,
    ) -> Result<Response<pb::CapacityCommitment>, Status> {
        let actor = caller(&request, Operation::WriteRegistry)?;
        let fields = request
            .get_ref()
            .capacity_commitment
            .as_ref()
            .map(commitment_fields);
        let registered = self.app.registry_now().await?;
        let commitment = CapacityCommitment::parse(fields.as_ref(), registered.as_ref())?;
        let created = capacity::create(&self.app, &actor, commitment).await?;
        Ok(Response::new(commitment_to_proto(&created)))
    }

    async fn update_capacity_commitment(
        &self,
        request: Request<pb::UpdateCapacityCommitmentRequest>,
    ) -> Result<Response<pb::CapacityCommitment>, Status> {
        let actor = caller(&request, Operation::WriteRegistry)?;
        let body = request.into_inner();
        let fields = UpdateFields {
            record: body.capacity_commitment.as_ref().map(commitment_fields),
            update_mask: mask(body.update_mask),
        };
        let id = CapacityCommitment::update_target(&fields)?;
        let updated = capacity::update(&self.app, &actor, id, |current| {
            CapacityCommitment::parse_update(&fields, current)
        })
        .await?;
        Ok(Response::new(commitment_to_proto(&updated)))
    }

    async fn get_capacity_commitment(
        &self,
        request: Request<pb::GetCapacityCommitmentRequest>,
    ) -> Result<Response<pb::CapacityCommitment>, Status> {
        let actor = caller(&request, Operation::ReadCapacity)?;
        let CommitmentId(id) = CommitmentId::from_name("name", &request.get_ref().name)?;
        let found = capacity::get(&self.app, &actor, id).await?;
        Ok(Response::new(commitment_to_proto(&found)))
    }

    async fn list_capacity_commitments(
        &self,
        request: Request<pb::ListCapacityCommitmentsRequest>,
    ) -> Result<Response<pb::ListCapacityCommitmentsResponse>, Status> {
        let actor = caller(&request, Operation::ReadCapacity)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let provider = if body.provider.is_empty() {
            None
        } else {
            Some(ProviderId::from_name("provider", &body.provider)?)
        };
        let page = capacity::list(&self.app, &actor, provider.as_deref(), page).await?;
        Ok(Response::new(pb::ListCapacityCommitmentsResponse {
            capacity_commitments: page.items.iter().map(commitment_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_unused_capacity(
        &self,
        request: Request<pb::ListUnusedCapacityRequest>,
    ) -> Result<Response<pb::ListUnusedCapacityResponse>, Status> {
        let actor = caller(&request, Operation::ReadUnusedCapacity)?;
        let ended_by = ended_by(&day(request.get_ref().ended_on_or_before.as_ref()))?;
        let unused = capacity::unused(&self.app, &actor, ended_by).await?;
        let entries: Vec<pb::UnusedCapacity> = unused
            .iter()
            .map(|u| {
                let c = &u.commitment;
                pb::UnusedCapacity {
                    commitment: capacity::commitment_name(c),
                    provider: names::provider(&c.provider),
                    service: c.service.to_wire(),
                    period_start: Some(date(c.period_start)),
                    period_end: Some(date(c.period_end)),
                    committed_person_days: c.person_days,
                    consumed_person_days: u.consumed_by_assignments,
                    unused_person_days: u.converted + u.lapsed,
                    converted_person_days: u.converted,
                    lapsed_person_days: u.lapsed,
                }
            })
            .collect();
        Ok(Response::new(pb::ListUnusedCapacityResponse {
            total_unused_person_days: entries.iter().map(|e| e.unused_person_days).sum(),
            total_converted_person_days: entries.iter().map(|e| e.converted_person_days).sum(),
            total_lapsed_person_days: entries.iter().map(|e| e.lapsed_person_days).sum(),
            entries,
        }))
    }

    async fn import_registry(
        &self,
        request: Request<pb::ImportRegistryRequest>,
    ) -> Result<Response<pb::ImportRegistryResponse>, Status> {
        let actor = caller(&request, Operation::WriteRegistry)?;
        let body = request.get_ref();
        let file = crate::registry_file::read(&body.document)?;
        let changes = registry_import::import(&self.app, &actor, &file, body.validate_only).await?;
        let count = |outcome| changes.iter().filter(|c| c.outcome == outcome).count() as i32;
        Ok(Response::new(pb::ImportRegistryResponse {
            created_count: count(registry_import::Outcome::Created),
            updated_count: count(registry_import::Outcome::Updated),
            unchanged_count: count(registry_import::Outcome::Unchanged),
            changes: changes
                .iter()
                .map(|c| pb::RegistryChange {
                    resource: c.resource.clone(),
                    outcome: match c.outcome {
                        registry_import::Outcome::Created => pb::ImportOutcome::Created,
                        registry_import::Outcome::Updated => pb::ImportOutcome::Updated,
                        registry_import::Outcome::Unchanged => pb::ImportOutcome::Unchanged,
                    } as i32,
                    updated_fields: c.fields.clone(),
                })
                .collect(),
        }))
    }
}
