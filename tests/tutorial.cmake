# Cuts the tutorial out of include/vidlstm.h's opening comment (between the
# lines "---- tutorial ----" and "---- end of tutorial ----", each line's
# leading " * " removed) into a C file that the test `tutorial` compiles
# and runs. usage: cmake -DHEADER=include/vidlstm.h -DOUT=tutorial.c -P tutorial.cmake
file(STRINGS "${HEADER}" lines)
set(in 0)
set(code "/* generated from ${HEADER} by tests/tutorial.cmake: edit the header */\n")
foreach(l IN LISTS lines)
  if(l MATCHES "^ \\* ---- end of tutorial ----")
    set(in 0)
  elseif(in)
    string(REGEX REPLACE "^ \\*( |$)" "" l "${l}")
    string(APPEND code "${l}\n")
  elseif(l MATCHES "^ \\* ---- tutorial ----")
    set(in 1)
  endif()
endforeach()
if(NOT code MATCHES "int main")
  message(FATAL_ERROR "${HEADER}: no tutorial between the marker lines")
endif()
file(WRITE "${OUT}.tmp" "${code}")
file(RENAME "${OUT}.tmp" "${OUT}")
