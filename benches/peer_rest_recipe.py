#!/usr/bin/env python3
"""The REST recipe runbooks use today, for the benchmark to compare against: find the space,
page through every user to find the broker account by username, POST a key with a purpose,
then DELETE it. One create and one delete per run, with the `requests` library, one
connection per request as the recipe does. Reads OCTOPUS_URL, OCTOPUS_API_KEY,
BROKER_USERNAME and PURPOSE from the environment."""

import os
import sys

import requests


def get_all(url, headers):
    items, skip = [], 0
    while True:
        separator = "&" if "?" in url else "?"
        response = requests.get(f"{url}{separator}skip={skip}", headers=headers)
        response.raise_for_status()
        page = response.json()
        if "Items" not in page:
            return page
        items += page["Items"]
        if not page["Items"] or len(page["Items"]) < page["ItemsPerPage"]:
            return items
        skip += page["ItemsPerPage"]


def main():
    server = os.environ["OCTOPUS_URL"].rstrip("/")
    headers = {"X-Octopus-ApiKey": os.environ["OCTOPUS_API_KEY"]}
    spaces = get_all(f"{server}/api/spaces", headers)
    if not any(space["Name"] == "Default" for space in spaces):
        sys.exit("no Default space")
    users = get_all(f"{server}/api/users", headers)
    user = next(u for u in users if u["Username"] == os.environ["BROKER_USERNAME"])
    response = requests.post(
        f"{server}/api/users/{user['Id']}/apikeys",
        headers=headers,
        json={"Purpose": os.environ["PURPOSE"]},
    )
    response.raise_for_status()
    key_id = response.json()["Id"]
    response = requests.delete(f"{server}/api/users/{user['Id']}/apikeys/{key_id}", headers=headers)
    response.raise_for_status()


if __name__ == "__main__":
    main()
