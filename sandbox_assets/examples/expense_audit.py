# ruff: noqa
# The expense-audit cell of the published PTC example, step by step as published (top-level
# await), run unmodified against preloaded and bridged tools: which engineering team members
# exceeded their Q3 travel budget? Only approved travel counts; the standard budget is
# $5,000 a quarter and get_custom_budget gives everyone's limit as budget_limit.
import asyncio
import json

# 1. the team
team = json.loads(await get_team_members(department="engineering"))

# 2. every member's Q3 expenses, fetched in parallel
expenses = await asyncio.gather(*[get_expenses(employee_id=m["id"], quarter="Q3") for m in team])

# 3. approved travel per member
spent_by_member = []
for member, raw in zip(team, expenses):
    spent = sum(
        e["amount"]
        for e in json.loads(raw)
        if e["category"] == "travel" and e["status"] == "approved"
    )
    spent_by_member.append((member, spent))

# 4. the budget of everyone over $5,000 (in parallel)
over_standard = [(member, spent) for member, spent in spent_by_member if spent > 5000]
budgets = await asyncio.gather(
    *[get_custom_budget(user_id=member["id"]) for member, _ in over_standard]
)

# 5. who is over their own limit
exceeded = []
for (member, spent), raw in zip(over_standard, budgets):
    budget = json.loads(raw)
    if spent > budget["budget_limit"]:
        exceeded.append(
            {
                "name": member["name"],
                "spent": spent,
                "limit": budget["budget_limit"],
                "exceeded_by": spent - budget["budget_limit"],
            }
        )

# 6. the answer
print(f"{len(exceeded)} members exceeded budget:")
print(json.dumps(exceeded, indent=2))
