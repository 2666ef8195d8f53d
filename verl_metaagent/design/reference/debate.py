# Debate: two debaters answer and then answer again after reading each other; a judge decides.
from verl_metaagent.design.api import *

debaters = [Agent("DebaterA", "You are a careful mathematician. Solve the problem; if another debater disagrees, "
                  "find who is wrong. Put your final answer in \\boxed{}."),
            Agent("DebaterB", "You are a skeptical mathematician. Look for errors in other solutions and solve the "
                  "problem yourself. Put your final answer in \\boxed{}.")]
for _ in range(2):
    for d in debaters:
        d.ask()
judge = Agent("Judge", "You are the judge of a math debate. Decide which final answer is correct and state it in \\boxed{}.")
verdict = judge.ask("Which answer is correct?")
answer = extract_answer(verdict) or majority_vote([extract_answer(d.last) for d in debaters])
finish(answer if answer is not None else verdict)
