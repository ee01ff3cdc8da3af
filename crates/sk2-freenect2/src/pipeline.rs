//! libfreenect2's packet pipelines: where the raw time-of-flight packets are decoded into depth.

use std::fmt;
use std::str::FromStr;

/// A libfreenect2 packet pipeline. CPU always exists; the others only if libfreenect2 was built
/// with them (its `config.h` says which), and need a working GPU driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Pipeline {
    /// Decoding on the CPU: always available, about one core at 30 fps.
    #[default]
    Cpu,
    /// OpenGL (needs a GL 3.1 context; libfreenect2 creates a hidden window).
    OpenGl,
    /// OpenCL (GPU or CPU OpenCL runtime).
    OpenCl,
    /// CUDA (NVIDIA GPUs).
    Cuda,
}

impl Pipeline {
    /// Every pipeline, in the order `--pipeline` lists them.
    pub const ALL: [Pipeline; 4] = [
        Pipeline::Cpu,
        Pipeline::OpenGl,
        Pipeline::OpenCl,
        Pipeline::Cuda,
    ];

    /// Whether building this pipeline can end the whole process: libfreenect2's OpenGL pipeline
    /// calls `exit(-1)` from its constructor when GLFW or its hidden window cannot be created
    /// (no display, no OpenGL 3.1). Such a pipeline is first built in a child process.
    pub fn may_exit_process(self) -> bool {
        self == Pipeline::OpenGl
    }

    /// The name used on command lines and in messages: `cpu`, `opengl`, `opencl`, `cuda`.
    pub fn name(self) -> &'static str {
        match self {
            Pipeline::Cpu => "cpu",
            Pipeline::OpenGl => "opengl",
            Pipeline::OpenCl => "opencl",
            Pipeline::Cuda => "cuda",
        }
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A pipeline name that is not one of `cpu`, `opengl`, `opencl`, `cuda`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown packet pipeline {0:?} (expected cpu, opengl, opencl or cuda)")]
pub struct ParsePipelineError(pub String);

impl FromStr for Pipeline {
    type Err = ParsePipelineError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Pipeline::ALL
            .into_iter()
            .find(|pipeline| pipeline.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| ParsePipelineError(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for pipeline in Pipeline::ALL {
            assert_eq!(pipeline.name().parse::<Pipeline>(), Ok(pipeline));
        }
        assert_eq!("OpenGL".parse::<Pipeline>(), Ok(Pipeline::OpenGl));
        assert!("vulkan"
            .parse::<Pipeline>()
            .unwrap_err()
            .to_string()
            .contains("vulkan"));
    }
}
