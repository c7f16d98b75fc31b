# cmake -DRB_BIN=rollbackctl -DRB_SHELL=bash -DRB_OUT=FILE -P completion.cmake: writes the shell's
# completion script as the built binary prints it (`rollbackctl completion SHELL`), so the
# installed script is generated from the command table it completes.
execute_process(COMMAND ${RB_BIN} completion ${RB_SHELL} OUTPUT_FILE ${RB_OUT}.tmp
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${RB_OUT}.tmp)
  message(FATAL_ERROR "'${RB_BIN} completion ${RB_SHELL}' failed: ${rc}")
endif()
file(RENAME ${RB_OUT}.tmp ${RB_OUT})
