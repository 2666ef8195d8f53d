# Code: generate -> run public tests -> fix (at most 3 repairs); the final program is the answer.
from verl_metaagent.design.api import *

coder = Agent("Coder", "You are an expert competitive programmer. Write a complete, efficient Python 3 program that "
              "reads standard input and prints to standard output. Reply with one ```python block.")
code = extract_code(coder.ask()) or ""
for _ in range(3):
    report = run_tests(code, "public")
    if report.total == 0 or report.all_passed:
        break
    reply = coder.ask("Your program fails the public tests:\n" + report.summary() +
                      "\nFind the bug and reply with the complete corrected program.")
    code = extract_code(reply) or code
finish(code)
