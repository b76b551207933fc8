import sys, time
sys.path.insert(0, "/work/main/services/analytics/tests")
sys.path.insert(0, "/work/main/services/analytics")
from tests.e2e.test_dashboard import *  # noqa
from tests.e2e.test_dashboard import service, browser  # noqa

def test_dbg(service, browser):
    svc = service["svc"]
    browser.get(svc.url + "/dashboard/?demo=1")
    time.sleep(8)
    for e in browser.get_log("browser"): print("LOG", e)
    print("BODY", browser.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"), browser.find_element(By.ID, "error").text, browser.find_element(By.ID, "login-error").text)
    import requests
    r = requests.get(svc.url + "/api/v1/tenants/springfield/projects/green-city/analytics/summary", timeout=30)
    print("SUMMARY", r.status_code, r.text[:300])
    r = requests.get(svc.url + "/api/v1/tenants/springfield/analytics/projects", timeout=30)
    print("PROJECTS", r.status_code, r.text[:300])
    assert False
