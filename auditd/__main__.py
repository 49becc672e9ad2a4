from auditd.cli import main

main()
