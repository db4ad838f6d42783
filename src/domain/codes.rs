//! Closed sets of codes shared by the registry and requests. Each is stored and
//! exchanged by its SCREAMING_SNAKE code, the same word as in the API.

/// A stored or configured code that names no known value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} code `{code}`")]
pub struct UnknownCode {
    pub kind: &'static str,
    pub code: String,
}

macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
                 serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $code)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::codes::UnknownCode;

            fn from_str(code: &str) -> Result<Self, $crate::domain::codes::UnknownCode> {
                match code {
                    $($code => Ok($name::$variant),)+
                    _ => Err($crate::domain::codes::UnknownCode { kind: stringify!($name), code: code.to_owned() }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use code_enum;

code_enum!(
    /// Kind of a requesting organisation (Art. 14(3), 19(8)).
    OrganisationKind {
        MsCsirt = "MS_CSIRT",
        MsCrisisAuthority = "MS_CRISIS_AUTHORITY",
        CertEu = "CERT_EU",
        TcCsirt = "TC_CSIRT",
        TcAuthority = "TC_AUTHORITY",
    }
);

impl OrganisationKind {
    pub fn is_third_country(self) -> bool {
        matches!(self, Self::TcCsirt | Self::TcAuthority)
    }
}

code_enum!(CountryKind {
    MemberState = "MEMBER_STATE",
    ThirdCountry = "THIRD_COUNTRY",
});

code_enum!(ServiceType {
    IncidentResponse = "INCIDENT_RESPONSE",
    DigitalForensics = "DIGITAL_FORENSICS",
    MalwareAnalysis = "MALWARE_ANALYSIS",
    ThreatHunting = "THREAT_HUNTING",
    RecoverySupport = "RECOVERY_SUPPORT",
    CrisisCoordination = "CRISIS_COORDINATION",
});

code_enum!(
    /// Security clearance; the order of the variants is the order of rank.
    Clearance {
        None = "NONE",
        RestreintUe = "RESTREINT_UE",
        ConfidentielUe = "CONFIDENTIEL_UE",
        SecretUe = "SECRET_UE",
    }
);

code_enum!(ProviderStatus {
    Active = "ACTIVE",
    Suspended = "SUSPENDED",
});

code_enum!(
    /// Incident classification (Art. 2(10)-(13)).
    Classification {
        Significant = "SIGNIFICANT",
        LargeScale = "LARGE_SCALE",
        LargeScaleEquivalent = "LARGE_SCALE_EQUIVALENT",
    }
);

code_enum!(Severity {
    Low = "LOW",
    Medium = "MEDIUM",
    High = "HIGH",
    Critical = "CRITICAL",
});

code_enum!(IncidentCategory {
    Ransomware = "RANSOMWARE",
    Malware = "MALWARE",
    Intrusion = "INTRUSION",
    DataBreach = "DATA_BREACH",
    DenialOfService = "DENIAL_OF_SERVICE",
    SupplyChain = "SUPPLY_CHAIN",
    Wiper = "WIPER",
    OtherCategory = "OTHER_CATEGORY",
});

code_enum!(EntityType {
    Essential = "ESSENTIAL",
    Important = "IMPORTANT",
    OtherEntity = "OTHER_ENTITY",
});

code_enum!(
    /// Sectors of NIS2 Annexes I and II, Union entities, and others.
    Sector {
        Energy = "ENERGY",
        Transport = "TRANSPORT",
        Banking = "BANKING",
        FinancialMarketInfrastructure = "FINANCIAL_MARKET_INFRASTRUCTURE",
        Health = "HEALTH",
        DrinkingWater = "DRINKING_WATER",
        WasteWater = "WASTE_WATER",
        DigitalInfrastructure = "DIGITAL_INFRASTRUCTURE",
        IctServiceManagement = "ICT_SERVICE_MANAGEMENT",
        PublicAdministration = "PUBLIC_ADMINISTRATION",
        Space = "SPACE",
        PostalAndCourier = "POSTAL_AND_COURIER",
        WasteManagement = "WASTE_MANAGEMENT",
        Chemicals = "CHEMICALS",
        Food = "FOOD",
        Manufacturing = "MANUFACTURING",
        DigitalProviders = "DIGITAL_PROVIDERS",
        Research = "RESEARCH",
        UnionEntity = "UNION_ENTITY",
        OtherSector = "OTHER_SECTOR",
    }
);

impl Sector {
    /// Annex I (sectors of high criticality) of NIS2.
    pub fn is_annex_i(self) -> bool {
        use Sector::*;
        matches!(
            self,
            Energy
                | Transport
                | Banking
                | FinancialMarketInfrastructure
                | Health
                | DrinkingWater
                | WasteWater
                | DigitalInfrastructure
                | IctServiceManagement
                | PublicAdministration
                | Space
        )
    }

    /// A sector of NIS2 Annex I or II.
    pub fn is_nis2(self) -> bool {
        use Sector::*;
        self.is_annex_i()
            || matches!(
                self,
                PostalAndCourier
                    | WasteManagement
                    | Chemicals
                    | Food
                    | Manufacturing
                    | DigitalProviders
                    | Research
            )
    }
}

code_enum!(
    /// Traffic Light Protocol 2.0 marking.
    Tlp {
        Clear = "CLEAR",
        Green = "GREEN",
        Amber = "AMBER",
        AmberStrict = "AMBER_STRICT",
        Red = "RED",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for sector in Sector::ALL {
            assert_eq!(sector.as_str().parse::<Sector>(), Ok(*sector));
        }
        assert!("NOPE".parse::<Severity>().is_err());
    }

    #[test]
    fn clearance_is_ordered_by_rank() {
        assert!(Clearance::None < Clearance::RestreintUe);
        assert!(Clearance::ConfidentielUe < Clearance::SecretUe);
    }
}
