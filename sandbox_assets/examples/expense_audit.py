# ruff: noqa
# Model-style PTC cell (top-level await), run unmodified against preloaded and bridged tools.
# Which engineers exceeded their Q3 travel budget? Only approved travel counts; the
# standard budget is $5,000 a quarter, and some people have a custom budget.
import asyncio
import json

STANDARD_BUDGET = 5000.00

team = json.loads(await get_team_members("engineering"))
expenses = await asyncio.gather(*[get_expenses(m["id"], "Q3") for m in team])

over_standard = []
for member, raw in zip(team, expenses):
    travel = sum(
        e["amount"]
        for e in json.loads(raw)
        if e["category"] == "travel" and e["status"] == "approved"
    )
    if travel > STANDARD_BUDGET:
        over_standard.append((member, travel))

budgets = await asyncio.gather(*[get_custom_budget(m["id"]) for m, _ in over_standard])
for (member, travel), raw in zip(over_standard, budgets):
    custom = json.loads(raw)
    limit = custom["travel_budget"] if custom else STANDARD_BUDGET
    if travel > limit:
        print(
            f"{member['name']}: ${travel:,.2f} (budget ${limit:,.2f}, over by +${travel - limit:,.2f})"
        )
