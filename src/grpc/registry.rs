use tonic::{Request, Response, Status};

use super::convert::{
    Wire, commitment, commitment_to_proto, country, country_to_proto, date, merge_commitment,
    merge_country, merge_organisation, merge_provider, opt_date, organisation,
    organisation_to_proto, provider, provider_to_proto,
};
use super::{actor, invalid, pb, resource_id};
use crate::app::{App, PageRequest, capacity, registry};
use crate::domain::validation::Violations;

pub struct RegistryService {
    pub app: App,
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, Status> {
    value.ok_or_else(|| invalid(&Violations::one(field, "is required")))
}

fn mask(m: Option<prost_types::FieldMask>) -> Vec<String> {
    m.map(|m| m.paths).unwrap_or_default()
}

#[tonic::async_trait]
impl pb::registry_service_server::RegistryService for RegistryService {
    async fn create_country(
        &self,
        request: Request<pb::CreateCountryRequest>,
    ) -> Result<Response<pb::Country>, Status> {
        let actor = actor(&request)?;
        let input = required("country", request.into_inner().country)?;
        let parsed = country(&input).map_err(|v| invalid(&v))?;
        let created = registry::create_country(&self.app, &actor, parsed).await?;
        Ok(Response::new(country_to_proto(&created)))
    }

    async fn update_country(
        &self,
        request: Request<pb::UpdateCountryRequest>,
    ) -> Result<Response<pb::Country>, Status> {
        let actor = actor(&request)?;
        let body = request.into_inner();
        let input = required("country", body.country)?;
        let code = resource_id("country.name", &input.name, "countries")?.to_owned();
        let paths = mask(body.update_mask);
        let updated = registry::update_country(&self.app, &actor, &code, |current| {
            merge_country(current, &input, &paths)
        })
        .await?;
        Ok(Response::new(country_to_proto(&updated)))
    }

    async fn get_country(
        &self,
        request: Request<pb::GetCountryRequest>,
    ) -> Result<Response<pb::Country>, Status> {
        let actor = actor(&request)?;
        let code = resource_id("name", &request.get_ref().name, "countries")?;
        let found = registry::get_country(&self.app, &actor, code).await?;
        Ok(Response::new(country_to_proto(&found)))
    }

    async fn list_countries(
        &self,
        request: Request<pb::ListCountriesRequest>,
    ) -> Result<Response<pb::ListCountriesResponse>, Status> {
        let actor = actor(&request)?;
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
        let actor = actor(&request)?;
        let input = required("organisation", request.into_inner().organisation)?;
        let parsed = organisation(&input).map_err(|v| invalid(&v))?;
        let created = registry::create_organisation(&self.app, &actor, parsed).await?;
        Ok(Response::new(organisation_to_proto(&created)))
    }

    async fn update_organisation(
        &self,
        request: Request<pb::UpdateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let actor = actor(&request)?;
        let body = request.into_inner();
        let input = required("organisation", body.organisation)?;
        let id = resource_id("organisation.name", &input.name, "organisations")?.to_owned();
        let paths = mask(body.update_mask);
        let updated = registry::update_organisation(&self.app, &actor, &id, |current| {
            merge_organisation(current, &input, &paths)
        })
        .await?;
        Ok(Response::new(organisation_to_proto(&updated)))
    }

    async fn get_organisation(
        &self,
        request: Request<pb::GetOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let actor = actor(&request)?;
        let id = resource_id("name", &request.get_ref().name, "organisations")?;
        let found = registry::get_organisation(&self.app, &actor, id).await?;
        Ok(Response::new(organisation_to_proto(&found)))
    }

    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        let actor = actor(&request)?;
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
        let actor = actor(&request)?;
        let input = required("provider", request.into_inner().provider)?;
        let parsed = provider(&input).map_err(|v| invalid(&v))?;
        let created = registry::create_provider(&self.app, &actor, parsed).await?;
        Ok(Response::new(provider_to_proto(&created)))
    }

    async fn update_provider(
        &self,
        request: Request<pb::UpdateProviderRequest>,
    ) -> Result<Response<pb::Provider>, Status> {
        let actor = actor(&request)?;
        let body = request.into_inner();
        let input = required("provider", body.provider)?;
        let id = resource_id("provider.name", &input.name, "providers")?.to_owned();
        let paths = mask(body.update_mask);
        let updated = registry::update_provider(&self.app, &actor, &id, |current| {
            merge_provider(current, &input, &paths)
        })
        .await?;
        Ok(Response::new(provider_to_proto(&updated)))
    }

    async fn get_provider(
        &self,
        request: Request<pb::GetProviderRequest>,
    ) -> Result<Response<pb::Provider>, Status> {
        let actor = actor(&request)?;
        let id = resource_id("name", &request.get_ref().name, "providers")?;
        let found = registry::get_provider(&self.app, &actor, id).await?;
        Ok(Response::new(provider_to_proto(&found)))
    }

    async fn list_providers(
        &self,
        request: Request<pb::ListProvidersRequest>,
    ) -> Result<Response<pb::ListProvidersResponse>, Status> {
        let actor = actor(&request)?;
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
        let actor = actor(&request)?;
        let input = required(
            "capacity_commitment",
            request.into_inner().capacity_commitment,
        )?;
        let parsed = commitment(&input).map_err(|v| invalid(&v))?;
        let created = capacity::create(&self.app, &actor, parsed).await?;
        Ok(Response::new(commitment_to_proto(&created)))
    }

    async fn update_capacity_commitment(
        &self,
        request: Request<pb::UpdateCapacityCommitmentRequest>,
    ) -> Result<Response<pb::CapacityCommitment>, Status> {
        let actor = actor(&request)?;
        let body = request.into_inner();
        let input = required("capacity_commitment", body.capacity_commitment)?;
        let id = commitment_id("capacity_commitment.name", &input.name)?;
        let paths = mask(body.update_mask);
        let updated = capacity::update(&self.app, &actor, id, |current| {
            merge_commitment(current, &input, &paths)
        })
        .await?;
        Ok(Response::new(commitment_to_proto(&updated)))
    }

    async fn get_capacity_commitment(
        &self,
        request: Request<pb::GetCapacityCommitmentRequest>,
    ) -> Result<Response<pb::CapacityCommitment>, Status> {
        let actor = actor(&request)?;
        let id = commitment_id("name", &request.get_ref().name)?;
        let found = capacity::get(&self.app, &actor, id).await?;
        Ok(Response::new(commitment_to_proto(&found)))
    }

    async fn list_capacity_commitments(
        &self,
        request: Request<pb::ListCapacityCommitmentsRequest>,
    ) -> Result<Response<pb::ListCapacityCommitmentsResponse>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let provider = if body.provider.is_empty() {
            None
        } else {
            Some(resource_id("provider", &body.provider, "providers")?)
        };
        let page = capacity::list(&self.app, &actor, provider, page).await?;
        Ok(Response::new(pb::ListCapacityCommitmentsResponse {
            capacity_commitments: page.items.iter().map(commitment_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_unused_capacity(
        &self,
        request: Request<pb::ListUnusedCapacityRequest>,
    ) -> Result<Response<pb::ListUnusedCapacityResponse>, Status> {
        let actor = actor(&request)?;
        let mut v = Violations::new();
        let day = opt_date(
            &mut v,
            "ended_on_or_before",
            request.get_ref().ended_on_or_before.as_ref(),
        );
        v.finish(()).map_err(|v| invalid(&v))?;
        let unused = capacity::unused(&self.app, &actor, day).await?;
        let entries: Vec<pb::UnusedCapacity> = unused
            .iter()
            .map(|c| pb::UnusedCapacity {
                commitment: capacity::commitment_name(c),
                provider: format!("providers/{}", c.provider),
                service: c.service.to_wire(),
                period_start: Some(date(c.period_start)),
                period_end: Some(date(c.period_end)),
                committed_person_days: c.person_days,
                consumed_person_days: c.consumed,
                unused_person_days: c.person_days - c.consumed,
            })
            .collect();
        Ok(Response::new(pb::ListUnusedCapacityResponse {
            total_unused_person_days: entries.iter().map(|e| e.unused_person_days).sum(),
            entries,
        }))
    }
}

/// The id in `providers/{provider}/capacityCommitments/{id}`.
fn commitment_id(field: &str, name: &str) -> Result<i32, Status> {
    name.split_once("/capacityCommitments/")
        .filter(|(p, _)| p.starts_with("providers/"))
        .and_then(|(_, id)| id.parse::<i32>().ok())
        .ok_or_else(|| {
            invalid(&Violations::one(
                field,
                "must be a resource name `providers/{provider}/capacityCommitments/{id}`",
            ))
        })
}
