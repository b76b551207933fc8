"""What leaves, as pure functions: pseudonyms, dropped identities, subjects, age bands (no broker, no store)."""
from agora.partners import privacy


def test_pseudonyms_are_stable_per_partner_and_unlinkable_across_partners():
    a = privacy.pseudonym(b"key-a", "ghent", "p-123")
    assert a == privacy.pseudonym(b"key-a", "ghent", "p-123") and a.startswith("pn_") and len(a) == 29
    assert a != privacy.pseudonym(b"key-b", "ghent", "p-123")          # another partner
    assert a != privacy.pseudonym(b"key-a", "leuven", "p-123")         # another tenant


def test_identities_at_any_depth_and_in_the_subject():
    data = {"voter": "p-1", "voter_id": "p-1", "round_id": "r", "decided_by": "clerk-9", "nested": {
        "chair_by": "clerk-9", "items": [{"moderator": "mod-3", "title": "keep"}]}, "personal": {"birth_year": 1990}}
    seen = {}
    out = privacy.transform_data(data, "ghent", key=b"k", demographics=False, event_time="2026-05-01T00:00:00Z",
                                 seen=seen)
    assert out["voter"] == out["voter_id"] == seen["p-1"] and out["round_id"] == "r" and out["personal"] is None
    assert out["nested"]["chair_by"] == out["decided_by"] != "clerk-9"
    assert out["nested"]["items"][0] == {"moderator": seen["mod-3"], "title": "keep"}
    assert privacy.transform_subject("ballot-r-p-1", seen) == "ballot-r-" + seen["p-1"]
    dropped = {}
    out = privacy.transform_data(data, "ghent", key=None, demographics=False, event_time="2026", seen=dropped)
    assert out["voter"] is None and out["decided_by"] is None
    assert privacy.transform_subject("reactions-p9-p-1", dropped) == "reactions-p9-x"


def test_demographics_are_bucketed_never_a_birth_year():
    personal = {"birth_year": 1990, "gender": "female", "district": "Centrum", "consent": True, "display_name": "A"}
    assert privacy.bucket(personal, "2026-05-01T00:00:00Z") == {"age_band": "35-44", "gender": "female",
                                                                "district": "Centrum"}
    assert privacy.bucket({"age": 17, "gender": None}, "2026")["age_band"] == "16-24"
    assert privacy.bucket({"birth_year": None}, "2026") == {"age_band": None}
    assert privacy.bucket({"_enc": "x", "_kid": "t:p"}, "2026") is None              # sealed never passes
    assert privacy.bucket(None, "2026") is None                                        # erased stays erased
    assert [privacy.age_band(a) for a in (0, 15, 16, 24, 25, 64, 65, 74, 75, 101)] == [
        "0-15", "0-15", "16-24", "16-24", "25-34", "55-64", "65-74", "65-74", "75+", "75+"]
