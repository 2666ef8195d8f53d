# Single agent: one solver answers the question directly.
from verl_metaagent.design.api import *

if task_type == "code":
    prompt = ("You are an expert competitive programmer. Write a complete Python 3 program that reads standard "
              "input and prints to standard output. Reply with one ```python block.")
else:
    prompt = "You are an expert mathematician. Reason step by step, check your work, and put the final answer in \\boxed{}."
solver = Agent("Solver", prompt)
reply = solver.ask()
finish((extract_code(reply) if task_type == "code" else extract_answer(reply)) or reply)
