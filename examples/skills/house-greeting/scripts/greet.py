import sys

print(f"Ahoy, {sys.argv[1]}! (house style v1)")
