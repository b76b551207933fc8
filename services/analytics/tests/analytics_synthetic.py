"""A generated multilingual corpus of municipal ideas (tests and benches): five concerns written in seven languages.

``multilingual_corpus(n, seed)`` → ``[{"id", "text", "title", "concern", "language"}]``. Each idea takes a sentence
frame of its language and fills it with two to four words of its concern (as citizens write them: nouns, compounds,
inflections) plus filler words of the language that say nothing about the concern (place names, "the square",
"near the school", "every evening"), so that a model that follows the language instead of the concern is easy to
see. The words are not the taxonomy's list: they are written forms a citizen would use, many of them compounds or
inflections that only a prefix matches.
"""
from __future__ import annotations

import random

CONCERNS = ("cycling", "parking", "green", "waste", "play")
LANGUAGES = ("nl", "fr", "en", "de", "es", "da", "pl")

WORDS = {
    "cycling": {
        "en": ["bike lanes", "cycle path", "bicycles", "cyclists", "bike racks", "cycling route"],
        "nl": ["fietspad", "fietsers", "fietsenstalling", "fietsstraat", "fietsroute", "fietsenrekken"],
        "fr": ["pistes cyclables", "vélos", "cyclistes", "parking vélo", "itinéraire cyclable", "vélo"],
        "de": ["Radweg", "Fahrräder", "Radfahrer", "Fahrradstraße", "Radverkehr", "Fahrradständer"],
        "es": ["carril bici", "bicicletas", "ciclistas", "aparcabicis", "ciclovía", "bici"],
        "da": ["cykelsti", "cyklister", "cykelparkering", "cykler", "cykelrute", "ladcykler"],
        "pl": ["ścieżka rowerowa", "rowery", "rowerzyści", "stojaki rowerowe", "rowerem", "trasa rowerowa"],
    },
    "parking": {
        "en": ["parking spaces", "parking", "car park", "parking bays", "garages", "parking permits"],
        "nl": ["parkeerplaatsen", "parkeergarage", "parkeren", "parkeervergunning", "parkeerterrein", "parkeerplek"],
        "fr": ["stationnement", "places de stationnement", "parking", "parkings", "stationner", "garer"],
        "de": ["Parkplätze", "Parkhaus", "Parken", "Tiefgarage", "Parkraum", "Stellplätze"],
        "es": ["aparcamiento", "plazas de aparcamiento", "aparcar", "parking", "aparcamientos", "estacionamiento"],
        "da": ["parkering", "parkeringspladser", "parkeringshus", "parkere", "parkeringskælder", "p-pladser"],
        "pl": ["parking", "miejsca parkingowe", "parkowanie", "parkingi", "parkować", "garaże"],
    },
    "green": {
        "en": ["trees", "park", "flowers", "green space", "gardens", "meadow"],
        "nl": ["bomen", "park", "bloemen", "groen", "tuinen", "groenstrook"],
        "fr": ["arbres", "parc", "fleurs", "espaces verts", "jardins", "végétation"],
        "de": ["Bäume", "Park", "Blumen", "Grünfläche", "Gärten", "Blumenwiese"],
        "es": ["árboles", "parque", "flores", "zonas verdes", "jardines", "arbolado"],
        "da": ["træer", "park", "blomster", "grønne", "haver", "grønt område"],
        "pl": ["drzewa", "park", "kwiaty", "zieleń", "ogrody", "zielone"],
    },
    "waste": {
        "en": ["litter", "rubbish bins", "recycling", "waste", "bins", "clean streets"],
        "nl": ["afval", "prullenbakken", "zwerfafval", "recycling", "afvalbakken", "vuilnis"],
        "fr": ["déchets", "poubelles", "recyclage", "ordures", "propreté", "déchetterie"],
        "de": ["Müll", "Mülleimer", "Abfall", "Recycling", "Müllabfuhr", "Abfallbehälter"],
        "es": ["basura", "papeleras", "reciclaje", "residuos", "contenedores", "limpieza"],
        "da": ["affald", "skraldespande", "genbrug", "affaldsspande", "skrald", "affaldssortering"],
        "pl": ["śmieci", "kosze", "recykling", "odpady", "segregacja", "czystość"],
    },
    "play": {
        "en": ["playground", "children", "swings", "slides", "kids", "play area"],
        "nl": ["speeltuin", "kinderen", "schommels", "glijbaan", "speelplaats", "speeltoestellen"],
        "fr": ["aire de jeux", "enfants", "balançoires", "toboggan", "jeux", "jeux pour enfants"],
        "de": ["Spielplatz", "Kinder", "Schaukeln", "Rutsche", "Spielgeräte", "Kinderspielplatz"],
        "es": ["parque infantil", "niños", "columpios", "tobogán", "juegos", "zona infantil"],
        "da": ["legeplads", "børn", "gynger", "rutsjebane", "legepladsen", "børnene"],
        "pl": ["plac zabaw", "dzieci", "huśtawki", "zjeżdżalnia", "zabawy", "dla dzieci"],
    },
}
FILLER = {
    "en": ["near the station", "on Church Street", "in our neighbourhood", "every evening", "at the market square",
           "for the residents", "along the main road", "behind the town hall"],
    "nl": ["bij het station", "in de Kerkstraat", "in onze wijk", "elke avond", "op het marktplein",
           "voor de bewoners", "langs de hoofdweg", "achter het stadhuis"],
    "fr": ["près de la gare", "rue de l'Église", "dans notre quartier", "chaque soir", "sur la place du marché",
           "pour les habitants", "le long de la grand-rue", "derrière la mairie"],
    "de": ["am Bahnhof", "in der Kirchstraße", "in unserem Viertel", "jeden Abend", "auf dem Marktplatz",
           "für die Anwohner", "entlang der Hauptstraße", "hinter dem Rathaus"],
    "es": ["junto a la estación", "en la calle Mayor", "en nuestro barrio", "cada tarde", "en la plaza del mercado",
           "para los vecinos", "a lo largo de la avenida", "detrás del ayuntamiento"],
    "da": ["ved stationen", "på Kirkegade", "i vores kvarter", "hver aften", "på torvet", "for beboerne",
           "langs hovedgaden", "bag rådhuset"],
    "pl": ["przy dworcu", "na ulicy Kościelnej", "w naszej okolicy", "każdego wieczoru", "na rynku",
           "dla mieszkańców", "wzdłuż głównej ulicy", "za ratuszem"],
}
FRAMES = {
    "en": ["We need more {a} and {b} {f}.", "Please improve the {a} {f}; the {b} are a problem.",
           "Better {a} {f} would help, and {b} too."],
    "nl": ["We willen meer {a} en {b} {f}.", "Verbeter de {a} {f}, de {b} zijn een probleem.",
           "Betere {a} {f} zou helpen, en ook {b}."],
    "fr": ["Nous voulons plus de {a} et de {b} {f}.", "Il faut améliorer les {a} {f} ; les {b} posent problème.",
           "De meilleurs {a} {f} aideraient, et des {b} aussi."],
    "de": ["Wir wollen mehr {a} und {b} {f}.", "Bitte verbessert die {a} {f}, die {b} sind ein Problem.",
           "Bessere {a} {f} würden helfen, und auch {b}."],
    "es": ["Queremos más {a} y {b} {f}.", "Hay que mejorar los {a} {f}; los {b} son un problema.",
           "Mejores {a} {f} ayudarían, y también {b}."],
    "da": ["Vi vil have flere {a} og {b} {f}.", "Forbedr venligst {a} {f}, {b} er et problem.",
           "Bedre {a} {f} ville hjælpe, og også {b}."],
    "pl": ["Chcemy więcej {a} i {b} {f}.", "Prosimy poprawić {a} {f}, {b} to problem.",
           "Lepsze {a} {f} by pomogły, a także {b}."],
}


def multilingual_corpus(n: int = 350, seed: int = 7, concerns=CONCERNS, languages=LANGUAGES) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        concern = concerns[i % len(concerns)]
        lang = languages[(i // len(concerns)) % len(languages)]
        words = WORDS[concern][lang]
        a, b = rng.sample(words, 2)
        text = rng.choice(FRAMES[lang]).format(a=a, b=b, f=rng.choice(FILLER[lang]))
        if rng.random() < 0.5:
            text += " " + rng.choice(FRAMES[lang]).format(a=rng.choice(words), b=rng.choice(words),
                                                           f=rng.choice(FILLER[lang]))
        title = text.split(".")[0][:80]
        out.append({"id": f"m{i}", "text": text, "title": title, "concern": concern, "language": lang})
    return out
