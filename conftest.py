# posrig's own pytest plugin comes from the installed package (entry point ``pytest11``);
# nothing here on purpose, so the suite runs the same from any directory.
