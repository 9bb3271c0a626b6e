# CUDA toolchain for the cuda/ backend. CMake 3.25 ignores CMAKE_CUDA_STANDARD 20, so -std=c++20
# is passed to nvcc by hand. Hopper first (sm_90a), with an sm_80 fallback.
if(NOT CMAKE_CUDA_COMPILER)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES OFF)
endif()
enable_language(CUDA)
# CMake 3.25 does not know nvcc 13's C++20 flag; targets inherit the CXX standard 20, so say it.
set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
find_package(CUDAToolkit REQUIRED)
set(PRIMUS_CUDA_FLAGS -std=c++20 --expt-relaxed-constexpr -lineinfo
    -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80)
find_library(NCCL_LIBRARY nccl HINTS /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu)
find_path(NCCL_INCLUDE_DIR nccl.h HINTS /usr/local/cuda/include /usr/include)
if(NOT NCCL_LIBRARY OR NOT NCCL_INCLUDE_DIR)
  message(FATAL_ERROR "PRIMUS_CUDA=ON needs NCCL (nccl.h and libnccl)")
endif()
add_library(primus_nccl INTERFACE)
target_link_libraries(primus_nccl INTERFACE ${NCCL_LIBRARY})
target_include_directories(primus_nccl INTERFACE ${NCCL_INCLUDE_DIR})
