"""Spanish and English texts of the dashboard (Spanish first: the room is in Santiago).

:func:`t` looks up a user-interface string; :data:`METRICS` names every outcome with one plain
sentence on what it means; :func:`lever_label` and :func:`lever_help` name the levers, falling
back to the parameter table's English text for a lever added after these tables were written.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "LANGUAGES",
    "t",
    "METRICS",
    "metric_label",
    "metric_help",
    "municipal_label",
    "lever_label",
    "lever_help",
    "choice_label",
    "MUNICIPAL",
]

LANGUAGES = ("es", "en")

_UI: dict[str, dict[str, str]] = {
    "title": {
        "es": "metrosim: gobernanza metropolitana y expansión urbana en Gran Santiago",
        "en": "metrosim: metropolitan governance and urban sprawl in Gran Santiago",
    },
    "subtitle": {
        "es": "Dos regímenes lado a lado, mismo azar (semilla), sobre el mapa real.",
        "en": "Two regimes side by side, same random numbers (seed), on the real map.",
    },
    "pane": {"es": "Panel {pane}", "en": "Pane {pane}"},
    "year": {"es": "Año {year}", "en": "Year {year}"},
    "regime": {"es": "Régimen", "en": "Regime"},
    "levers": {"es": "Palancas", "en": "Levers"},
    "play": {"es": "Reproducir", "en": "Play"},
    "pause": {"es": "Pausa", "en": "Pause"},
    "step": {"es": "Avanzar un año", "en": "Step one year"},
    "reset": {"es": "Reiniciar", "en": "Reset"},
    "speed": {"es": "Velocidad (años por segundo, máx.)", "en": "Speed (years per second, max)"},
    "seed": {"es": "Semilla", "en": "Seed"},
    "seed_help": {
        "es": "la semilla es un número entero, 0 o mayor",
        "en": "the seed is a whole number, 0 or more",
    },
    "language": {"es": "Idioma", "en": "Language"},
    "layer": {"es": "Capa del mapa", "en": "Map layer"},
    "extent": {"es": "Área del mapa", "en": "Map area"},
    "extent_core": {"es": "Gran Santiago (34 comunas)", "en": "Gran Santiago (34 communes)"},
    "extent_region": {"es": "Región Metropolitana (52)", "en": "Metropolitan Region (52)"},
    "layer_land_use": {"es": "Uso de suelo", "en": "Land use"},
    "layer_income": {"es": "Grupo de ingreso dominante", "en": "Dominant income group"},
    "layer_rent": {"es": "Arriendo (CLP/mes)", "en": "Rent (CLP/month)"},
    "layer_service": {
        "es": "Distancia media a servicios (km)",
        "en": "Mean distance to services (km)",
    },
    "layer_growth": {"es": "Crecimiento desde 2017", "en": "Growth since 2017"},
    "layer_commute": {
        "es": "Viaje al trabajo con congestión (min)",
        "en": "Commute with congestion (min)",
    },
    "layer_pm25": {"es": "PM2,5 del tráfico (µg/m³)", "en": "Traffic PM2.5 (µg/m³)"},
    "growth_rural": {"es": "no urbano", "en": "not urban"},
    "growth_none": {"es": "urbano en 2017, sin cambio", "en": "urban in 2017, unchanged"},
    "growth_denser": {"es": "densificado", "en": "densified"},
    "growth_new": {"es": "nuevo suelo urbano", "en": "new urban land"},
    "land_use_0": {"es": "agrícola", "en": "agricultural"},
    "land_use_1": {"es": "protegido", "en": "protected"},
    "land_use_2": {"es": "residencial baja", "en": "residential low"},
    "land_use_3": {"es": "residencial media", "en": "residential medium"},
    "land_use_4": {"es": "residencial alta", "en": "residential high"},
    "land_use_5": {"es": "empleo", "en": "jobs"},
    "land_use_6": {"es": "parque", "en": "park"},
    "income_group": {"es": "quintil {q}", "en": "quintile {q}"},
    "hover_commune": {
        "es": "{name}: {population} hab., arriendo medio {rent}",
        "en": "{name}: {population} people, mean rent {rent}",
    },
    "hover_value": {"es": "valor", "en": "value"},
    "charts": {"es": "Resultados en el tiempo", "en": "Outcomes over the years"},
    "communes": {"es": "Por comuna (año actual)", "en": "By commune (current year)"},
    "commune_figure": {"es": "Cifra por comuna", "en": "Figure by commune"},
    "commune_set": {"es": "Comunas", "en": "Communes"},
    "what_metrics_mean": {"es": "Qué significa cada indicador", "en": "What each metric means"},
    "notice_regime": {
        "es": "Panel {pane} reiniciado en 2017: régimen «{regime}».",
        "en": "Pane {pane} reset to 2017: regime “{regime}”.",
    },
    "notice_lever": {
        "es": "Panel {pane} reiniciado en 2017 porque cambió la palanca {name} = {value}.",
        "en": "Pane {pane} reset to 2017 because lever {name} changed to {value}.",
    },
    "bad_value": {"es": "Valor no válido: {error}", "en": "Value not accepted: {error}"},
    "apply": {"es": "Aplicar", "en": "Apply"},
    "step_time": {
        "es": "Último año de ambos paneles: {s:.2f} s",
        "en": "Last year of both panes: {s:.2f} s",
    },
    "ensemble": {"es": "Conjunto de corridas (varias semillas)", "en": "Ensemble (many seeds)"},
    "ensemble_help": {
        "es": "Carpeta escrita por «metrosim compare» (con runs.parquet). Se muestra la media "
        "de cada régimen con su intervalo de confianza del 95% sobre las semillas.",
        "en": "A folder written by `metrosim compare` (with runs.parquet). Each regime's mean is "
        "shown with its 95% confidence interval over seeds.",
    },
    "ensemble_folder": {"es": "Carpeta", "en": "Folder"},
    "load": {"es": "Cargar", "en": "Load"},
    "ensemble_loaded": {
        "es": "{n_scenarios} regímenes, {n_seeds} semillas, años {y0}–{y1}.",
        "en": "{n_scenarios} regimes, {n_seeds} seeds, years {y0}–{y1}.",
    },
    "export": {"es": "Exportar", "en": "Export"},
    "export_html": {
        "es": "Descargar comparación (HTML autocontenido)",
        "en": "Download comparison (self-contained HTML)",
    },
    "export_png_help": {
        "es": "Para una imagen PNG de un mapa o gráfico, use el ícono de cámara sobre la figura.",
        "en": "For a PNG of a map or chart, use the camera icon above the figure.",
    },
    "live": {"es": "En vivo", "en": "Live"},
    "no_data": {"es": "(sin datos todavía)", "en": "(no data yet)"},
}

#: Headline outcomes: label and one plain sentence, per language.
METRICS: dict[str, dict[str, tuple[str, str]]] = {
    "urban_area_ha": {
        "es": (
            "Superficie urbanizada (ha)",
            "Cuánta tierra ocupa la ciudad; si sube rápido, la ciudad se extiende sobre el campo.",
        ),
        "en": (
            "Urbanised area (ha)",
            "How much land the city covers; when it rises fast, the city spreads over farmland.",
        ),
    },
    "urban_density_pph": {
        "es": (
            "Densidad urbana (hab./ha)",
            "Personas por hectárea urbanizada; si baja, la ciudad crece más de lo que se llena.",
        ),
        "en": (
            "Urban density (people/ha)",
            "People per urbanised hectare; when it falls, the city grows faster than it fills.",
        ),
    },
    "mean_rent": {
        "es": (
            "Arriendo medio (CLP/mes)",
            "Lo que paga al mes, en promedio, un hogar por su vivienda.",
        ),
        "en": (
            "Mean rent (CLP/month)",
            "What a household pays each month for its dwelling, on average.",
        ),
    },
    "mean_commute_min": {
        "es": (
            "Viaje medio al trabajo (min)",
            "Minutos que, en promedio, le toma a un hogar llegar a los empleos.",
        ),
        "en": (
            "Mean commute (min)",
            "Minutes a household needs, on average, to reach the jobs.",
        ),
    },
    "theil_h": {
        "es": (
            "Segregación (H de Theil)",
            "0 si cada barrio tiene la misma mezcla de ingresos que la ciudad; 1 si cada grupo "
            "vive aparte.",
        ),
        "en": (
            "Segregation (Theil H)",
            "0 when every neighbourhood has the city's income mix; 1 when each group lives apart.",
        ),
    },
    "theil_h_between": {
        "es": (
            "Segregación entre comunas",
            "La parte de la segregación que viene de diferencias entre comunas, no de dentro "
            "de ellas.",
        ),
        "en": (
            "Segregation between communes",
            "The part of segregation that comes from differences between communes, not within.",
        ),
    },
    "coverage_park_q1": {
        "es": (
            "Plazas cerca del quintil más pobre",
            "Parte de los hogares más pobres que tiene una plaza o parque a menos de 400 m.",
        ),
        "en": (
            "Parks near the poorest quintile",
            "Share of the poorest households with a square or park within 400 m.",
        ),
    },
    "budget_per_capita_ratio_max_min": {
        "es": (
            "Brecha de presupuesto municipal",
            "Cuántas veces mayor es el presupuesto por habitante de la comuna más rica que el "
            "de la más pobre.",
        ),
        "en": (
            "Municipal budget gap",
            "How many times the budget per person of the richest commune exceeds the poorest's.",
        ),
    },
    "commute_time_min": {
        "es": (
            "Tiempo de viaje al trabajo (min)",
            "Minutos puerta a puerta, en promedio, del viaje al trabajo en el modo que cada "
            "hogar eligió (auto, transporte público o a pie/bicicleta), con la congestión.",
        ),
        "en": (
            "Commute time (min)",
            "Door-to-door minutes of the trip to work in the mode each household chose (car, "
            "public transport, on foot or by bicycle), congestion included.",
        ),
    },
    "congestion_index": {
        "es": (
            "Índice de congestión",
            "Cuánto más largo es un viaje en auto que con calles vacías (0,5 = 50 % más).",
        ),
        "en": (
            "Congestion index",
            "How much longer a car commute takes than on empty streets (0.5 = 50% longer).",
        ),
    },
    "pm25_exposure_ugm3": {
        "es": (
            "PM2,5 del tráfico respirado (µg/m³)",
            "Contaminación por partículas finas de los autos donde vive la gente, en promedio "
            "por persona (solo el aporte de los viajes al trabajo).",
        ),
        "en": (
            "Traffic PM2.5 breathed (µg/m³)",
            "Fine-particle pollution from commuting cars where people live, averaged per "
            "person (the commuting share only).",
        ),
    },
    "farmland_converted_total_ha": {
        "es": (
            "Suelo agrícola urbanizado (ha)",
            "Hectáreas de campo de 2017 que ya son ciudad.",
        ),
        "en": (
            "Farmland urbanised (ha)",
            "Hectares of the 2017 countryside that have become city.",
        ),
    },
}

#: Per-commune figures (keys of ``model.municipal``) with their label per language.
MUNICIPAL: dict[str, dict[str, str]] = {
    "population": {"es": "Población", "en": "Population"},
    "households": {"es": "Hogares", "en": "Households"},
    "urban_area_ha": {"es": "Superficie urbana (ha)", "en": "Urban area (ha)"},
    "mean_rent": {"es": "Arriendo medio (CLP/mes)", "en": "Mean rent (CLP/month)"},
    "budget_per_capita": {
        "es": "Presupuesto por habitante (CLP/año)",
        "en": "Budget per person (CLP/year)",
    },
    "green_m2_per_person": {"es": "Áreas verdes (m² por habitante)", "en": "Green (m² per person)"},
    "coverage_park": {
        "es": "Hogares con plaza a ≤400 m (proporción)",
        "en": "Households with a park within 400 m (share)",
    },
    "share_q1": {
        "es": "Proporción del quintil más pobre",
        "en": "Share of the poorest quintile",
    },
    "density_cap": {"es": "Densidad máxima permitida (viv./ha)", "en": "Density cap (dw./ha)"},
    "fcm_received": {"es": "Recibido del FCM (CLP/año)", "en": "Received from the FCM (CLP/year)"},
    "fcm_paid": {"es": "Aportado al FCM (CLP/año)", "en": "Paid into the FCM (CLP/year)"},
    "pop_q1": {"es": "Población del quintil más pobre", "en": "Population of the poorest quintile"},
    "pop_q5": {"es": "Población del quintil más rico", "en": "Population of the richest quintile"},
    "car_share": {"es": "Viajes al trabajo en auto (proporción)", "en": "Car commutes (share)"},
    "commute_min": {"es": "Tiempo de viaje al trabajo (min)", "en": "Commute time (min)"},
    "vehicle_km": {"es": "Vehículos-km al año (residentes)", "en": "Vehicle-km a year (residents)"},
    "pm25_exposure_ugm3": {
        "es": "PM2,5 del tráfico (µg/m³)",
        "en": "Traffic PM2.5 (µg/m³)",
    },
    "water_hm3": {
        "es": "Consumo de agua residencial (hm³/año)",
        "en": "Residential water (hm³/yr)",
    },
    "farmland_converted_ha": {
        "es": "Suelo agrícola urbanizado desde 2017 (ha)",
        "en": "Farmland urbanised since 2017 (ha)",
    },
}

#: Levers known when this table was written; a newer lever shows its field name and the
#: parameter table's (English) sentence until it is added here.
_LEVERS: dict[str, dict[str, str]] = {
    "growth_boundary": {
        "es": "Límite de crecimiento urbano",
        "en": "Urban growth boundary",
        "es_help": "Un plan metropolitano que prohíbe vivienda nueva fuera del límite "
        "(none = sin plan metropolitano).",
    },
    "election_cycle": {
        "es": "Ciclo electoral (años)",
        "en": "Election cycle (years)",
        "es_help": "Años entre elecciones municipales (el período de un alcalde).",
    },
    "citizen_participation": {
        "es": "Participación ciudadana",
        "en": "Citizen participation",
        "es_help": "Cuánto pesan las necesidades no cubiertas de los vecinos, y no dónde viven "
        "más votantes, al decidir dónde se construyen equipamientos.",
    },
    "fcm_property_rate": {
        "es": "Aporte al FCM (contribuciones)",
        "en": "FCM contribution (property tax)",
        "es_help": "Parte del impuesto territorial que la mayoría de las comunas aporta al "
        "Fondo Común Municipal.",
    },
    "fcm_property_rate_rich": {
        "es": "Aporte al FCM de las comunas ricas",
        "en": "FCM contribution of the rich communes",
        "es_help": "Parte del impuesto territorial que aportan al FCM Santiago, Providencia, "
        "Las Condes y Vitacura.",
    },
    "fcm_permit_rate": {
        "es": "Aporte al FCM (permisos de circulación)",
        "en": "FCM contribution (vehicle permits)",
        "es_help": "Parte de los permisos de circulación que va al Fondo Común Municipal.",
    },
    "fcm_enabled": {
        "es": "Fondo Común Municipal activo",
        "en": "Fondo Común Municipal active",
        "es_help": "Si el FCM redistribuye ingresos (apagado: cada comuna se queda con lo suyo).",
    },
    "competence_transfer": {
        "es": "Traspaso de competencias",
        "en": "Transfer of competences",
        "es_help": "Cómo se adopta un plan metropolitano: impuesto (top_down) o negociado con el "
        "comité de alcaldes (negotiated).",
    },
    "metro_fund_share": {
        "es": "Fondo metropolitano (parte de ingresos)",
        "en": "Metropolitan fund (share of revenue)",
        "es_help": "Parte de los ingresos propios municipales que se junta en un fondo de "
        "inversión metropolitano.",
    },
    "gore_investment": {
        "es": "Aporte del GORE al fondo (CLP/año)",
        "en": "GORE money into the fund (CLP/year)",
        "es_help": "Dinero del Gobierno Regional que se suma cada año al fondo metropolitano.",
    },
    "committee_majority": {
        "es": "Mayoría del comité de alcaldes",
        "en": "Mayors' committee majority",
        "es_help": "Parte de los alcaldes necesaria para aprobar un proyecto metropolitano.",
    },
    "committee_majority_land_use": {
        "es": "Mayoría para el plan (negociado)",
        "en": "Majority for the plan (negotiated)",
        "es_help": "Parte de los alcaldes necesaria para aprobar un plan metropolitano cuando "
        "las competencias se negocian.",
    },
    "association_members": {
        "es": "Asociación voluntaria (códigos CUT)",
        "en": "Voluntary association (CUT codes)",
        "es_help": "Códigos de comuna separados por comas de una asociación que junta ingresos.",
    },
    "association_share": {
        "es": "Aporte a la asociación",
        "en": "Contribution to the association",
        "es_help": "Parte de los ingresos propios que cada miembro aporta a la asociación.",
    },
    "ministries_aligned": {
        "es": "Ministerios alineados con el plan",
        "en": "Ministries aligned with the plan",
        "es_help": "Si los ministerios ubican sus proyectos según el plan metropolitano.",
    },
    "social_housing_siting": {
        "es": "Ubicación de la vivienda social",
        "en": "Social-housing siting",
        "es_help": "Dónde construye el ministerio de vivienda: suelo más barato (least_cost) o "
        "suelo accesible cerca de empleos (accessible).",
    },
    "car_charge_min": {
        "es": "Cobro al auto (min)",
        "en": "Car charge (min)",
        "es_help": "Tarificación vial o cobro de estacionamiento a los viajes al trabajo en "
        "auto, en minutos de viaje equivalentes (0 = sin cobro).",
    },
    "plan_authority": {
        "es": "Autoridad del plan",
        "en": "Authority of the plan",
        "es_help": "Quién dicta el plan metropolitano: el gobierno regional (regional) o el "
        "nacional por decreto (national), sin voto de los alcaldes y con los ministerios "
        "alineados.",
    },
    "greenbelt_width_km": {
        "es": "Cinturón verde (km de ancho)",
        "en": "Greenbelt (km wide)",
        "es_help": "Anillo de suelo protegido justo fuera del límite urbano 2017 donde nadie "
        "puede construir, como el de Seúl de 1971 (0 = ninguno).",
    },
    "municipal_zoning_say": {
        "es": "Control municipal de la zonificación",
        "en": "Municipal say over zoning",
        "es_help": "Cuánto de su propia densidad máxima pone en vigor cada comuna (0 = una "
        "norma nacional, 1 = como hoy).",
    },
    "combined_authority_share": {
        "es": "Autoridad combinada (parte de ingresos)",
        "en": "Combined authority (share of revenue)",
        "es_help": "Parte de los ingresos propios que cada comuna miembro aporta al fondo de "
        "una autoridad combinada a la que las comunas eligen unirse cada año.",
    },
    "combined_authority_grant": {
        "es": "Aporte central a la autoridad combinada (CLP/año)",
        "en": "Central grant to the combined authority (CLP/year)",
        "es_help": "Dinero del gobierno central que se suma cada año al fondo de la autoridad "
        "combinada.",
    },
    "combined_authority_rule": {
        "es": "Reparto del fondo de la autoridad combinada",
        "en": "Sharing of the combined authority's fund",
        "es_help": "Cómo se reparte el fondo entre miembros: por habitante (per_capita) o por "
        "necesidad (need).",
    },
    "plan_scope": {
        "es": "Alcance del plan",
        "en": "Scope of the plan",
        "es_help": "Dónde rigen el límite y la densidad mínima del plan: toda la región "
        "(region) o solo las comunas miembros de la autoridad combinada.",
    },
}


def t(key: str, lang: str = "es", **values: Any) -> str:
    """The user-interface string ``key`` in ``lang``, with ``values`` filled in."""
    entry = _UI.get(key)
    if entry is None:
        return key
    text = entry.get(lang, entry["en"])
    return text.format(**values) if values else text


def metric_label(name: str, lang: str = "es") -> str:
    """Short label of an outcome (its column name when unknown)."""
    entry = METRICS.get(name)
    return entry[lang][0] if entry else name


def metric_help(name: str, lang: str = "es") -> str:
    """One plain sentence on what an outcome means ("" when unknown)."""
    entry = METRICS.get(name)
    return entry[lang][1] if entry else ""


def municipal_label(name: str, lang: str = "es") -> str:
    """Label of a per-commune figure (its key when unknown)."""
    entry = MUNICIPAL.get(name)
    return entry[lang] if entry else name


def lever_label(name: str, lang: str = "es") -> str:
    """Label of a lever (its field name for a lever not in the table)."""
    entry = _LEVERS.get(name)
    return entry[lang] if entry else name


def lever_help(name: str, doc: str, lang: str = "es") -> str:
    """One sentence on a lever: the Spanish text when known, else the parameter table's."""
    entry = _LEVERS.get(name)
    if lang == "es" and entry and "es_help" in entry:
        return entry["es_help"]
    return doc


def choice_label(value: Any, lang: str = "es") -> str:
    """How an allowed value of a select is shown (values are code words; shown as they are)."""
    return str(value)
